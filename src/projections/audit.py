"""Signed checkpoints over the whole log, and verification of chains and checkpoints.

The *running hash* folds every event's hash in position order::

    running_0 = GENESIS
    running_p = sha256(bytes.fromhex(running_{p-1}) + bytes.fromhex(hash_p))

The sealer follows the notification log like a projection and, every N events
and at least every ``interval`` seconds while events arrive, records a
checkpoint (position, number of events, running hash, time) signed with
Ed25519. A checkpoint commits to every event before it: altering, deleting,
inserting or reordering any of them changes the running hash, which the
attacker cannot re-sign without the private key.

``Verifier`` recomputes each event's hash from its stored bytes, each stream's
chain, and the running hash at every checkpoint (and checks its signature).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from ledger.hashchain import GENESIS, recorded_hash, split_hash, stored_event_hash
from ledger.signing import Signer, key_id, public_key_from, raw_public, verify_signature
from ledger.store import StoreConfig
from projections.feed import EventFilter, EventLog
from projections.locks import ProcessLock

CHECKPOINTS = "ledger_checkpoints"
_SORTED = orjson.OPT_SORT_KEYS


def running_next(running: str, event_hash_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(running) + bytes.fromhex(event_hash_hex)).hexdigest()


def checkpoint_message(position: int, events: int, running_hash: str, sealed_at: str) -> bytes:
    """The exact bytes a checkpoint's signature is over."""
    return (
        "assignment-ledger checkpoint\n"
        f"position={position}\nevents={events}\nrunning_hash={running_hash}\n"
        f"sealed_at={sealed_at}\n"
    ).encode()


@dataclass(frozen=True)
class Checkpoint:
    position: int
    events: int
    running_hash: str
    sealed_at: str
    key_id: str
    signature: str

    def message(self) -> bytes:
        return checkpoint_message(self.position, self.events, self.running_hash, self.sealed_at)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class StoredLog:
    """The stored events in position order, as they are stored (the feed's raw
    reader, ``projections.feed.EventLog.rows``), plus the counts a progress bar
    needs."""

    def __init__(self, store: Any, events_table: str) -> None:
        self.table = events_table
        self.log = EventLog(store, events_table)
        source = store.events_sql(events_table).split(" FROM ", 1)[1]
        position = self.log.position_column
        self._head_sql = f"SELECT MAX({position}) FROM {source}"
        self._count_sql = f"SELECT COUNT(*) FROM {source} WHERE {position} > %s"

    def head(self) -> int:
        return int(self.log.select(self._head_sql, [])[0][0] or 0)

    def count_after(self, position: int) -> int:
        return int(self.log.select(self._count_sql, [position])[0][0])

    def pages(
        self, after: int = 0, page_size: int = 10_000, until: int | None = None
    ) -> Iterator[list[tuple[int, str, int, str, bytes]]]:
        """Pages of (position, originator id as text, version, topic, state) after
        ``after`` (and up to ``until``)."""
        return self.log.rows(EventFilter(after=after, to=until), page_size)

    def stream(self, originator_id: UUID) -> list[tuple[int, str, int, str, bytes]]:
        """One aggregate's events, in position order."""
        return [row for page in self.log.rows(EventFilter(originator_id=originator_id))
                for row in page]


class CheckpointStore:
    """The ``ledger_checkpoints`` table, beside the read tables."""

    def __init__(self, store: Any) -> None:
        self.datastore = store.datastore
        self.postgres = store.placeholder == "%s"

    def _sql(self, statement: str) -> str:
        return statement if self.postgres else statement.replace("%s", "?")

    def setup(self) -> None:
        statement = (
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (position BIGINT PRIMARY KEY, "
            "events BIGINT NOT NULL, running_hash TEXT NOT NULL, sealed_at TEXT NOT NULL, "
            "key_id TEXT NOT NULL, signature TEXT NOT NULL)"
        )
        for attempt in range(3):
            try:
                with self.datastore.transaction(commit=True) as c:
                    c.execute(statement)
                return
            except Exception:  # noqa: BLE001 - two processes creating it at once (PostgreSQL)
                if attempt == 2:
                    raise
                time.sleep(0.1)

    def _select(self, statement: str, params: list[Any]) -> list[Checkpoint]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql(statement), params)
            return [
                Checkpoint(
                    position=int(r["position"]), events=int(r["events"]),
                    running_hash=r["running_hash"], sealed_at=r["sealed_at"],
                    key_id=r["key_id"], signature=r["signature"],
                )
                for r in c.fetchall()
            ]

    _COLUMNS = "position, events, running_hash, sealed_at, key_id, signature"

    def last(self, at_or_before: int | None = None) -> Checkpoint | None:
        if at_or_before is None:
            found = self._select(
                f"SELECT {self._COLUMNS} FROM {CHECKPOINTS} ORDER BY position DESC LIMIT 1", []
            )
        else:
            found = self._select(
                f"SELECT {self._COLUMNS} FROM {CHECKPOINTS} WHERE position <= %s "
                "ORDER BY position DESC LIMIT 1",
                [at_or_before],
            )
        return found[0] if found else None

    def after(self, position: int, limit: int | None = None) -> list[Checkpoint]:
        statement = (
            f"SELECT {self._COLUMNS} FROM {CHECKPOINTS} WHERE position > %s ORDER BY position"
        )
        params: list[Any] = [position]
        if limit is not None:
            statement += " LIMIT %s"
            params.append(limit)
        return self._select(statement, params)

    def add(self, checkpoint: Checkpoint) -> bool:
        """Records a checkpoint; False if one at that position exists already."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                self._sql(
                    f"INSERT INTO {CHECKPOINTS} ({self._COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (position) DO NOTHING RETURNING position"
                ),
                [checkpoint.position, checkpoint.events, checkpoint.running_hash,
                 checkpoint.sealed_at, checkpoint.key_id, checkpoint.signature],
            )
            return bool(c.fetchall())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Sealer:
    """Seals signed checkpoints while following the log.

    One process of all sharing a store seals (a ``ProcessLock``); the others
    stand by and take over when it goes away. Its state -- position, count and
    running hash -- is the last checkpoint, so a restart resumes from there.
    """

    def __init__(
        self,
        log: StoredLog,
        checkpoints: CheckpointStore,
        signer: Signer,
        *,
        every: int = 1000,
        interval: float = 60.0,
        config: StoreConfig | None = None,
        poll: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.checkpoints = checkpoints
        self.signer = signer
        self.every = every
        self.interval = interval
        self.poll = poll
        self.clock = clock
        self._lock = ProcessLock(config, "checkpoint-sealer") if config is not None else None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_seal = clock()
        self._state: tuple[int, int, str, int] | None = None
        self._mutex = threading.Lock()
        self.error: BaseException | None = None

    def _seal(self, position: int, events: int, running: str) -> Checkpoint:
        sealed_at = _now()
        message = checkpoint_message(position, events, running, sealed_at)
        checkpoint = Checkpoint(
            position=position, events=events, running_hash=running, sealed_at=sealed_at,
            key_id=self.signer.key_id, signature=self.signer.sign(message),
        )
        self.checkpoints.add(checkpoint)
        self._last_seal = self.clock()
        return checkpoint

    def seal_pending(self, *, force: bool = False) -> list[Checkpoint]:
        """Folds the events after those folded so far (after the last checkpoint
        on the first call); seals every ``every`` events, and what remains if
        ``force`` or ``interval`` has passed since the last seal."""
        with self._mutex:
            return self._seal_pending(force)

    def _seal_pending(self, force: bool) -> list[Checkpoint]:
        if self._state is None:
            last = self.checkpoints.last()
            self._state = (
                (last.position, last.events, last.running_hash, 0) if last else (0, 0, GENESIS, 0)
            )
        position, events, running, pending = self._state
        sealed: list[Checkpoint] = []
        try:
            for page in self.log.pages(after=position, page_size=self.every):
                for row in page:
                    value = recorded_hash(row[4]) or stored_event_hash(*row[1:])
                    running = running_next(running, value)
                    position, events = row[0], events + 1
                    pending += 1
                    if pending >= self.every:
                        sealed.append(self._seal(position, events, running))
                        pending = 0
            if pending and (force or self.clock() - self._last_seal >= self.interval):
                sealed.append(self._seal(position, events, running))
                pending = 0
        except Exception:
            self._state = None  # start again from the last stored checkpoint
            raise
        self._state = (position, events, running, pending)
        return sealed

    # ------------------------------------------------------------------ thread

    def wake(self, _position: int = 0) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="checkpoint-sealer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._lock is None or self._lock.acquire(blocking=False):
                    self.seal_pending()
                self.error = None
            except Exception as e:  # noqa: BLE001 - the store may be down; try again later
                self.error = e
                self._state = None
                if self._lock is not None:
                    self._lock.release()
            self._wake.wait(self.poll)
            self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._lock is not None:
            self._lock.release()


# ---------------------------------------------------------------------- verification


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
    from projections.backend import build_store

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
        from concurrent.futures import ProcessPoolExecutor

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


@dataclass
class Audit:
    """What a running service holds for auditors."""

    log: StoredLog
    checkpoints: CheckpointStore
    signer: Signer
    sealer: Sealer | None = None
    previous_keys: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        store: Any,
        events_table: str,
        signer: Signer,
        *,
        config: StoreConfig | None = None,
        every: int = 1000,
        interval: float = 60.0,
        seal: bool = True,
        previous_keys: tuple[str, ...] = (),
    ) -> Audit:
        log = StoredLog(store, events_table)
        checkpoints = CheckpointStore(store)
        checkpoints.setup()
        sealer = (
            Sealer(log, checkpoints, signer, every=every, interval=interval, config=config)
            if seal else None
        )
        return cls(log, checkpoints, signer, sealer, previous_keys)

    def verifier(self) -> Verifier:
        return Verifier(self.log, self.checkpoints,
                        [self.signer.public_raw.hex(), *self.previous_keys])

    def close(self) -> None:
        if self.sealer is not None:
            self.sealer.stop()
