"""The per-stream hash chain, written at append.

Every stored event's state carries ``prev_hash`` (the ``hash`` of the previous
event of the same aggregate, ``GENESIS`` for the first) and ``hash``::

    hash = sha256(f"{originator_id}:{originator_version}:{topic}\\n" + canonical)

where ``canonical`` is the stored state without its ``hash`` member, printed as
compact JSON with sorted keys (events are stored that way, ``hash`` appended last) (``orjson.dumps(state, option=OPT_SORT_KEYS)``;
the state includes ``prev_hash``, so each hash commits to the whole stream
before it). The hash is computed by :class:`ChainingMapper` as the event is
turned into its stored form -- in the write path, in the same transaction as
the event -- not by a later process.

Anyone holding the stored events (or an export of them) can recompute every
hash: :func:`stored_event_hash` does it from the stored bytes alone.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

#: The ``prev_hash`` of the first event of every stream.
GENESIS = "0" * 64

_SORTED = orjson.OPT_SORT_KEYS


class ChainError(Exception):
    """Raised when an event's predecessor cannot be found to chain it to."""


def canonical(state: dict[str, Any]) -> bytes:
    """The bytes an event's hash is computed over: the JSON state (as stored,
    transcoder tags included) without ``hash``, compact, keys sorted."""
    if "hash" in state:
        state = {k: v for k, v in state.items() if k != "hash"}
    return orjson.dumps(state, option=_SORTED)


def with_hash(content: bytes, value: str) -> bytes:
    """The stored state: the canonical content with ``hash`` appended as its last
    member, so a verifier can take the content back by slicing (see
    ``projections.audit.scan``) instead of parsing and printing it again."""
    return content[:-1] + HASH_TAIL + value.encode() + b'"}'


def event_hash(originator_id: UUID | str, version: int, topic: str, content: bytes) -> str:
    digest = hashlib.sha256(f"{originator_id}:{version}:{topic}\n".encode())
    digest.update(content)
    return digest.hexdigest()


def stored_event_hash(
    originator_id: UUID | str, version: int, topic: str, state: bytes | dict[str, Any]
) -> str:
    """An event's hash recomputed from its stored state (bytes or parsed JSON)."""
    parsed = orjson.loads(state) if isinstance(state, bytes | bytearray | memoryview) else state
    return event_hash(originator_id, version, topic, canonical(parsed))


#: The end of a stored state: ``,"hash":"<64 hex digits>"}`` (see ``with_hash``).
HASH_TAIL = b',"hash":"'
TAIL_LENGTH = len(HASH_TAIL) + 66


def split_hash(state: bytes) -> tuple[bytes, str] | None:
    """The inverse of ``with_hash``: (the content that was hashed, the hash), by
    slicing; None for a state not laid out so (written otherwise, or altered)."""
    if state[-TAIL_LENGTH:-66] == HASH_TAIL and state[-2:] == b'"}':
        return state[:-TAIL_LENGTH] + b"}", state[-66:-2].decode()
    return None


def recorded_hash(state: bytes) -> str | None:
    """The ``hash`` an event was stored with (None for an event stored unchained)."""
    split = split_hash(state)
    if split is not None:
        return split[1]
    value = orjson.loads(state).get("hash")
    return value if isinstance(value, str) else None


#: Looks up the hash of a stored event, (originator id, version) -> hash or None.
HashLookup = Callable[[UUID, int], str | None]


class ChainingMapper(Mapper[UUID]):
    """eventsourcing's ``Mapper`` that also chains each event to its stream.

    The hash of each stream's newest event is kept in a bounded cache (one entry
    per stream), filled as events are read (``to_domain_event``) and written. While an application
    records (:meth:`batch`), the hashes of the events being written are staged
    and reach the cache only once the insert has committed, so a failed or
    conflicting insert never leaves a hash that is not in the store. A
    predecessor that is in neither is looked up in the store (``lookup``).
    """

    def __init__(
        self,
        transcoder: Any,
        *,
        lookup: HashLookup | None = None,
        cache_size: int = 16_384,
    ) -> None:
        super().__init__(transcoder=transcoder)
        self.lookup = lookup
        self.cache_size = cache_size
        #: originator id -> (version, hash) of the newest event of it seen.
        self._heads: OrderedDict[UUID, tuple[int, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()

    # ------------------------------------------------------------------ heads

    def _remember(self, key: tuple[UUID, int], value: str) -> None:
        originator_id, version = key
        with self._lock:
            known = self._heads.get(originator_id)
            if known is None or known[0] <= version:
                self._heads[originator_id] = (version, value)
            self._heads.move_to_end(originator_id)
            while len(self._heads) > self.cache_size:
                self._heads.popitem(last=False)

    def _previous(self, originator_id: UUID, version: int) -> str:
        if version <= 1:
            return GENESIS
        key = (originator_id, version - 1)
        staged: dict[tuple[UUID, int], str] | None = getattr(self._local, "staged", None)
        if staged is not None and key in staged:
            return staged[key]
        with self._lock:
            known = self._heads.get(originator_id)
        found = known[1] if known is not None and known[0] == version - 1 else None
        if found is None and self.lookup is not None:
            found = self.lookup(originator_id, version - 1)
            if found is not None:
                self._remember(key, found)
        if found is None:
            msg = f"No hash for event {version - 1} of {originator_id} to chain event {version} to."
            raise ChainError(msg)
        return found

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Stages the hashes of the events mapped inside; they are kept only if
        the block ends without an exception (the insert committed)."""
        outer = getattr(self._local, "staged", None)
        staged: dict[tuple[UUID, int], str] = {} if outer is None else outer
        self._local.staged = staged
        try:
            yield
        finally:
            self._local.staged = outer
        if outer is None:
            for key, value in staged.items():
                self._remember(key, value)

    # ------------------------------------------------------------------ mapping

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        topic = get_topic(domain_event.__class__)
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        version = state.pop("originator_version")
        state.pop("hash", None)
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        state["prev_hash"] = self._previous(originator_id, version)
        tagged = self.transcoder.tag(state)
        content = orjson.dumps(tagged, option=_SORTED)
        value = event_hash(originator_id, version, topic, content)
        staged = getattr(self._local, "staged", None)
        if staged is not None:
            staged[(originator_id, version)] = value
        else:
            self._remember((originator_id, version), value)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=version,
            topic=topic,
            state=with_hash(content, value),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        value = event.__dict__.get("hash")
        if isinstance(value, str):
            self._remember((event.originator_id, stored_event.originator_version), value)
        return event

