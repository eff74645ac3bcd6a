"""Verification of the log: ``Verifier`` recomputes each event's hash from its
stored bytes, each stream's chain, and the running hash at every checkpoint
(and checks its signature)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

import orjson

from ledger.hashchain import GENESIS, split_hash
from ledger.signing import key_id, public_key_from, raw_public, verify_signature
from ledger.store import StoreConfig
from projections.backend import build_store
from projections.checkpoints import Checkpoint, CheckpointStore, StoredLog

_SORTED = orjson.OPT_SORT_KEYS


@dataclass
class Broken:
    """The first bad thing found: which event (or checkpoint) and why."""

    position: int
    reason: str
    ticket_id: str | None = None
    version: int | None = None
    checkpoint: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The contract's ``{ticket_id, version, position}`` (null when a checkpoint,
        not one event, is what broke), the reason, and the checkpoint if any."""
        data = {"ticket_id": self.ticket_id, "version": self.version,
                "position": self.position, "reason": self.reason}
        if self.checkpoint is not None:
            data["checkpoint"] = self.checkpoint
        return data


@dataclass
class Report:
    ok: bool = True
    events_checked: int = 0
    checkpoints_checked: int = 0
    streams_checked: int = 0
    last_position: int = 0
    first_broken: Broken | None = None
    problems: int = 0
    anchored: bool = False
    seconds: float = 0.0
    key_id: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["first_broken"] = self.first_broken.as_dict() if self.first_broken else None
        return data


@dataclass
class Chunk:
    """What scanning a run of consecutive events yields: each event's hash in
    order (for the running hash), where each stream enters and leaves the run
    (to stitch chains across runs), and the problems found inside it."""

    positions: list[int] = field(default_factory=list)
    digests: list[bytes] = field(default_factory=list)
    firsts: dict[str, tuple[int, int, str | None]] = field(default_factory=dict)
    lasts: dict[str, tuple[int, str]] = field(default_factory=dict)
    problems: list[Broken] = field(default_factory=list)


def scan(rows: Iterator[list[tuple[int, str, int, str, bytes]]]) -> Chunk:
    """Recomputes every event's hash from its stored bytes and checks each
    stream's chain within the run. The first event of each stream in the run is
    only noted (``firsts``); the caller checks it against what came before."""
    chunk = Chunk()
    positions, digests, firsts, lasts, problems = (
        chunk.positions, chunk.digests, chunk.firsts, chunk.lasts, chunk.problems)
    loads, dumps, sha256, sorted_keys = orjson.loads, orjson.dumps, hashlib.sha256, _SORTED
    marker = b'"prev_hash":"'
    for page in rows:
        for position, originator_id, version, topic, state in page:
            # Fast path: a state stored as canonical content + hash (the mapper's
            # layout) is checked by slicing; anything else, or any mismatch, is
            # parsed and re-printed below, so both paths decide alike.
            split = split_hash(state)
            if split is not None:
                content, recorded = split
                digest = sha256(f"{originator_id}:{version}:{topic}\n".encode() + content).digest()
                computed = digest.hex()
                if computed == recorded and content.count(marker) == 1:
                    at = content.find(marker) + 13
                    prev = content[at:at + 64].decode()
                    last = lasts.get(originator_id)
                    if last is None:
                        firsts[originator_id] = (position, version, prev)
                        lasts[originator_id] = (version, computed)
                        positions.append(position)
                        digests.append(digest)
                        continue
                    if version == last[0] + 1 and prev == last[1]:
                        lasts[originator_id] = (version, computed)
                        positions.append(position)
                        digests.append(digest)
                        continue
            try:
                parsed = loads(state)
            except orjson.JSONDecodeError:
                problems.append(Broken(position, "stored state is not JSON", originator_id,
                                       version))
                parsed = {}
            recorded = parsed.pop("hash", None)
            digest = sha256(f"{originator_id}:{version}:{topic}\n".encode()
                            + dumps(parsed, option=sorted_keys)).digest()
            computed = digest.hex()
            if recorded != computed:
                problems.append(Broken(
                    position,
                    "event has no hash (stored unchained)" if recorded is None
                    else "event content does not match its hash (altered)",
                    originator_id, version))
            prev = parsed.get("prev_hash")
            last = lasts.get(originator_id)
            if last is None:
                firsts[originator_id] = (position, version, prev)
            elif version != last[0] + 1:
                if version <= last[0]:
                    problems.append(Broken(
                        position, f"version {version} follows version {last[0]} (reordered)",
                        originator_id, version))
                else:
                    problems.append(Broken(
                        position, f"version {last[0] + 1} is missing (version {version} "
                        f"follows version {last[0]})", originator_id, last[0] + 1))
            elif prev != last[1]:
                problems.append(Broken(
                    position, "prev_hash does not match the previous event's hash",
                    originator_id, version))
            lasts[originator_id] = (version, computed)
            positions.append(position)
            digests.append(digest)
    return chunk


def _scan_range(config: StoreConfig, table: str, after: int, until: int) -> Chunk:
    """A worker process's share: the events in (after, until]."""
    store = build_store(config, pool_size=1)
    try:
        return scan(StoredLog(store, table).pages(after=after, until=until))
    finally:
        store.close()


class Verifier:
    """Recomputes hashes, chains and checkpoints from the stored bytes.

    With ``workers`` > 1 (and a store other processes can open), runs of the
    log are scanned in parallel processes; chains are stitched and the running
    hash folded here, in position order.
    """

    def __init__(
        self,
        log: StoredLog,
        checkpoints: CheckpointStore,
        public_key: str | list[str] | None = None,
        *,
        config: StoreConfig | None = None,
        workers: int = 1,
        parallel_threshold: int = 100_000,
    ) -> None:
        self.log = log
        self.checkpoints = checkpoints
        texts = [public_key] if isinstance(public_key, str) else list(public_key or [])
        #: key id -> public key: checkpoints name the key that signed them, so a
        #: log signed before and after a key rotation verifies with both keys.
        self.public_keys = {key_id(raw_public(k)): k for k in map(public_key_from, texts)}
        self.key_id = ",".join(self.public_keys) or None
        self.config = config
        self.workers = workers
        self.parallel_threshold = parallel_threshold

    def verify(
        self,
        *,
        ticket_id: UUID | None = None,
        from_position: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> Report:
        started = time.perf_counter()
        report = Report(key_id=self.key_id)
        if ticket_id is not None:
            rows = self.log.stream(ticket_id)
            chunk = scan(iter([rows]))
            self._stitch(chunk, {}, report)
            report.events_checked = len(rows)
            report.streams_checked = len(chunk.lasts)
            report.last_position = max((r[0] for r in rows), default=0)
            if not rows:
                report.notes.append(f"no events for {ticket_id}")
        else:
            self._verify_log(from_position, report, progress)
        report.ok = report.first_broken is None
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def _signed(self, checkpoint: Checkpoint) -> bool:
        """Whether the checkpoint's signature verifies with the key it names."""
        key = self.public_keys.get(checkpoint.key_id)
        return key is not None and verify_signature(key, checkpoint.message(),
                                                    checkpoint.signature)

    @staticmethod
    def _fail(report: Report, broken: Broken) -> None:
        """Records a problem. An event's own break is named in preference to a
        checkpoint's (which only says that something before it changed), and an
        earlier one in preference to a later one."""
        report.problems += 1
        first = report.first_broken
        if (
            first is None
            or (first.checkpoint is not None and broken.checkpoint is None)
            or (broken.checkpoint is None and broken.position < first.position)
        ):
            report.first_broken = broken

    def _stitch(
        self, chunk: Chunk, heads: dict[str, tuple[int, str]], report: Report
    ) -> None:
        """Checks where each stream enters this run against where it left the
        runs before, then takes the run's problems and stream ends."""
        for originator_id, (position, version, prev) in chunk.firsts.items():
            head = heads.get(originator_id)
            if head is None:
                if version == 1:
                    if prev != GENESIS:
                        self._fail(report, Broken(
                            position, "first event of its stream does not chain to genesis",
                            originator_id, version))
                elif not report.anchored:
                    self._fail(report, Broken(
                        position, f"events 1..{version - 1} of this stream are missing",
                        originator_id, version - 1))
            elif version != head[0] + 1:
                if version <= head[0]:
                    self._fail(report, Broken(
                        position, f"version {version} follows version {head[0]} (reordered)",
                        originator_id, version))
                else:
                    self._fail(report, Broken(
                        position, f"version {head[0] + 1} is missing (version {version} "
                        f"follows version {head[0]})", originator_id, head[0] + 1))
            elif prev != head[1]:
                self._fail(report, Broken(
                    position, "prev_hash does not match the previous event's hash",
                    originator_id, version))
        for broken in chunk.problems:
            self._fail(report, broken)
        heads.update(chunk.lasts)

    def _check_checkpoint(self, cp: Checkpoint, running: bytes, events: int,
                          report: Report) -> None:
        report.checkpoints_checked += 1
        if self.public_keys and not self._signed(cp):
            self._fail(report, Broken(cp.position, "checkpoint signature is not valid",
                                      checkpoint=cp.position))
        elif running.hex() != cp.running_hash:
            self._fail(report, Broken(
                cp.position,
                "running hash differs from the signed checkpoint: events up to this "
                "position were altered, removed, inserted or reordered",
                checkpoint=cp.position,
            ))
        elif events != cp.events:
            self._fail(report, Broken(
                cp.position, f"{events} events up to this checkpoint, it was sealed over "
                f"{cp.events}", checkpoint=cp.position))

    def _chunks(self, after: int, progress: Callable[[int, int], None] | None,
                report: Report) -> Iterator[Chunk]:
        head = self.log.head()
        total = self.log.count_after(after) if progress or self.workers > 1 else 0
        parallel = (
            self.workers > 1 and self.config is not None and total >= self.parallel_threshold
            and not self.config.in_memory
        )
        done = 0
        if not parallel:
            for page in self.log.pages(after=after):
                chunk = scan(iter([page]))
                done += len(page)
                if progress:
                    progress(done, total)
                yield chunk
            return
        pieces = max(self.workers * 4, 1)
        step = max((head - after) // pieces, 1)
        bounds = [after + i * step for i in range(pieces)] + [head]
        bounds = sorted(set(bounds))
        report.notes.append(f"scanned in {self.workers} processes")
        with ProcessPoolExecutor(max_workers=self.workers) as pool:
            futures = [
                pool.submit(_scan_range, self.config, self.log.table, lo, hi)
                for lo, hi in zip(bounds, bounds[1:], strict=False)
            ]
            for future in futures:
                chunk = future.result()
                done += len(chunk.positions)
                if progress:
                    progress(done, total)
                yield chunk

    def _verify_log(
        self, from_position: int, report: Report, progress: Callable[[int, int], None] | None
    ) -> None:
        running, events, after = bytes.fromhex(GENESIS), 0, 0
        if from_position > 0:
            start = self.checkpoints.last(at_or_before=from_position)
            if start is not None:
                if self.public_keys and not self._signed(start):
                    self._fail(report, Broken(start.position, "checkpoint signature is not "
                                              "valid", checkpoint=start.position))
                running = bytes.fromhex(start.running_hash)
                events, after = start.events, start.position
                report.checkpoints_checked += 1
            report.anchored = True
            report.notes.append(
                f"started after position {after}: streams begun earlier are anchored at "
                "their first event seen"
            )
        pending = self.checkpoints.after(after)
        heads: dict[str, tuple[int, str]] = {}
        i, sha256 = 0, hashlib.sha256
        for chunk in self._chunks(after, progress, report):
            self._stitch(chunk, heads, report)
            for position, digest in zip(chunk.positions, chunk.digests, strict=True):
                while i < len(pending) and pending[i].position < position:
                    self._check_checkpoint(pending[i], running, events, report)
                    i += 1
                running = sha256(running + digest).digest()
                events += 1
            if chunk.positions:
                report.last_position = chunk.positions[-1]
            report.events_checked += len(chunk.positions)
        while i < len(pending):
            cp = pending[i]
            if cp.position > report.last_position and cp.events > events:
                report.checkpoints_checked += 1
                self._fail(report, Broken(
                    cp.position,
                    f"checkpoint at position {cp.position} covers {cp.events} events but "
                    f"the log ends at position {report.last_position} with {events} "
                    "(events removed from the end)",
                    checkpoint=cp.position,
                ))
            else:
                self._check_checkpoint(cp, running, events, report)
            i += 1
        report.streams_checked = len(heads)
