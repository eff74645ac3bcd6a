"""``/metrics``: this process's Prometheus registry, built with ``prometheus-client``.

Two kinds of series:

- HTTP, measured by ``api.observe`` on every request: ``ledger_http_requests_total``
  (by method, route template and status) and the latency histogram
  ``ledger_http_request_duration_seconds`` (by method and route template). Route
  templates (``/assignments/{assignment_id}/accept``), not paths, keep the number
  of series bounded; a request no route matches counts as ``route="(unmatched)"``
  and an unusual method as ``method="OTHER"``.
- The ledger's own, read from the services when scraped (``LedgerCollector``): the
  head, each projection's position and lag, and the write path's counters since
  the process started (docs/operations.md lists them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from projections.inline import InlineProjection

if TYPE_CHECKING:
    from api.deps import Services

#: The route label of a request no route matches.
UNMATCHED = "(unmatched)"
#: Methods counted by name; any other counts as ``OTHER``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Latency buckets (seconds): commands wait for their commit and read tables.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: (metric, ``GroupCommitter.stats`` key, help)
COMMIT_COUNTERS = (
    ("ledger_commit_transactions_total", "batches", "Transactions the group committer made."),
    ("ledger_commit_aggregates_total", "saved", "Aggregates saved by the group committer."),
    ("ledger_commit_splits_total", "splits", "Batches that conflicted and were saved one by one."),
)
PROJECTION_LABELS = ("name", "version", "state")


class Metrics:
    """One app's registry and its HTTP series."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ledger_http_requests", "HTTP requests answered, by route template and status.",
            ("method", "route", "status"), registry=self.registry,
        )
        self.latency = Histogram(
            "ledger_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template.",
            ("method", "route"), buckets=BUCKETS, registry=self.registry,
        )
        # The labelled children, so that a request costs no label lookup.
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._ledger: LedgerCollector | None = None

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in METHODS:
            method = "OTHER"
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        series[0].inc()
        series[1].observe(seconds)

    def follow(self, services: Services) -> None:
        """Adds the ledger's own series, read from ``services`` when scraped."""
        self.forget()
        self._ledger = LedgerCollector(services)
        self.registry.register(self._ledger)

    def forget(self) -> None:
        """Drops the ledger's series (the services are closing)."""
        if self._ledger is not None:
            self.registry.unregister(self._ledger)
            self._ledger = None


class LedgerCollector:
    """The ledger's gauges and counters, read when the registry is collected."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        services = self.services
        head = GaugeMetricFamily("ledger_head_position",
                                 "Position of the last recorded event.")
        head.add_metric([], services.ledger.head())
        yield head
        position = GaugeMetricFamily(
            "ledger_projection_position", "Position each live projection has reached.",
            labels=PROJECTION_LABELS)
        lag = GaugeMetricFamily("ledger_projection_lag", "Events a projection is behind the head.",
                                labels=PROJECTION_LABELS)
        for s in services.read_side.status():
            labels = [str(s["name"]), str(s["version"]), str(s["state"])]
            position.add_metric(labels, s["position"])
            lag.add_metric(labels, s["lag"])
        yield position
        yield lag
        yield self.jobs()
        yield from self.write_path()

    def jobs(self) -> Metric:
        """Where the background jobs this process leads have followed the log to
        (a job led elsewhere is absent): one far behind the head is catching up."""
        services = self.services
        followed = GaugeMetricFamily(
            "ledger_job_position",
            "Position a background job led by this process has followed the log to.",
            labels=("job",))
        for name, job in (("checkpoint-sealer", services.audit.sealer),
                          ("repeat-faults", services.repeat_faults)):
            position = job.followed if job is not None else None
            if position is not None:
                followed.add_metric([name], position)
        return followed

    def write_path(self) -> Iterator[Metric]:
        """This process's write path since it started: group commit, the inline
        projection, the assignment lookups."""
        services = self.services
        stats = services.ledger.commit_stats()
        if stats is not None:
            for name, key, help_text in COMMIT_COUNTERS:
                yield CounterMetricFamily(name, help_text, value=stats[key])
        inline = services.ledger.inline
        if isinstance(inline, InlineProjection):
            saves = CounterMetricFamily(
                "ledger_inline_saves_total",
                "Saves whose read rows were written in their own transaction (projected), "
                "left to the runner (deferred) or failed inline and were saved again.",
                labels=("outcome",))
            for outcome in ("projected", "deferred", "failed"):
                saves.add_metric([outcome], getattr(inline, outcome))
            yield saves
        lookups = services.assignments
        yield CounterMetricFamily(
            "ledger_assignment_lookups_total",
            "Assignment rows looked up in the store (not at hand in memory).",
            value=lookups.keys)
        yield CounterMetricFamily(
            "ledger_assignment_lookup_queries_total",
            "Queries those lookups took (lookups queued together share one).",
            value=lookups.queries)
