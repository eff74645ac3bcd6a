"""New identifiers (version 4 UUIDs) without a system call each.

``uuid.uuid4()`` reads 16 bytes with ``os.urandom``, and CPython lets go of the
interpreter lock around that read. On a busy server the event loop that asked
for an id then waits for the lock to come back (up to the 5 ms switch interval)
while the command and commit threads run, a wait that showed in the assign
workload's throughput (benchmarks/RESULTS.md). Here the
same operating-system randomness is read 4 KiB at a time and handed out 16
bytes per id: the ids are exactly as random as ``uuid4()``'s, and one read in
256 lets go of the lock.

A forked child drops what its parent had read (``os.register_at_fork``), so the
two never hand out the same bytes.
"""

from __future__ import annotations

import os
import threading
from uuid import UUID

_IDS_PER_READ = 256
_SIZE = 16

_lock = threading.Lock()
_buffer = b""
_offset = 0


def new_id() -> UUID:
    """A random (version 4) UUID, like ``uuid.uuid4()``."""
    global _buffer, _offset
    with _lock:
        if _offset >= len(_buffer):
            _buffer = os.urandom(_SIZE * _IDS_PER_READ)
            _offset = 0
        raw = _buffer[_offset:_offset + _SIZE]
        _offset += _SIZE
    return UUID(bytes=raw, version=4)


def _forget() -> None:
    # In the child: another thread of the parent may have held the lock.
    global _lock, _buffer, _offset
    _lock = threading.Lock()
    _buffer = b""
    _offset = 0


os.register_at_fork(after_in_child=_forget)
