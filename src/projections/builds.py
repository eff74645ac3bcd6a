"""Builds of projection versions: the first one, rebuilds beside the live one,
the switch between them, and how far each has got.

A build of a projection version is an entry in the catalog: ``live`` builds are
maintained by the live runner (``projections.runner``) and are what the public
views show; ``building`` builds are filled beside them by a rebuild and
switched in atomically once they have caught up. Each rebuild of one version
is a new generation, with tables of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ledger.application import Ledger
from projections.base import Projection
from projections.bulk import run_bulk
from projections.pages import Slot, relaxed_gc, run_pages
from projections.store import (
    BUILDING,
    LIVE,
    CatalogEntry,
    ReadStore,
    SwitchBehindError,
    now_ts,
)
from projections.tables import parse_ts

#: Attempts at a switch while the live build keeps moving ahead of the new one.
SWITCH_ATTEMPTS = 50


def new_entry(catalog: Sequence[CatalogEntry], projection: Projection) -> CatalogEntry:
    """The next generation of ``projection``'s version, as a ``building`` entry."""
    generations = [
        e.generation
        for e in catalog
        if e.name == projection.name and e.version == projection.version
    ]
    return CatalogEntry(
        name=projection.name,
        version=projection.version,
        generation=max(generations, default=0) + 1,
        state=BUILDING,
        created_at=now_ts(),
    )


def ensure_live(store: ReadStore, projections: Mapping[str, Projection]) -> list[str]:
    """Gives every projection without a live build an empty one; returns the
    names whose live build is of an older version than the code's (they need a
    rebuild). A newer live version is newer code's (a rolling deploy under way):
    never rebuilt back. The caller holds the setup lock: one process at a time."""
    catalog = store.catalog()
    outdated = []
    found = []
    for name, projection in projections.items():
        live = [e for e in catalog if e.name == name and e.state == LIVE]
        if not live:
            entry = new_entry(catalog, projection)
            store.add_entry(entry)
            store.create_tables(entry, projection)
            store.switch(entry, None, projection)
        else:
            found.append(live[0])
            if live[0].version < projection.version:
                outdated.append(name)
    if found:
        # Stores made before positions were CAS'd; one transaction for all, as
        # every start of a set-up store comes here.
        store.ensure_position(*found)
    return outdated


def status(
    store: ReadStore, projections: Mapping[str, Projection], head: int
) -> list[dict[str, Any]]:
    """Every live and building version: position, head, lag; for builds also
    progress, rate and ETA (from the build's start time in the catalog)."""
    now = time.time()
    out = []
    for entry in store.catalog():
        if entry.state not in (LIVE, BUILDING):
            continue
        position = store.position(entry)
        lag = max(head - position, 0)
        row: dict[str, Any] = {
            "name": entry.name,
            "version": entry.version,
            "generation": entry.generation,
            "state": entry.state,
            "position": position,
            "head": head,
            "lag": lag,
        }
        if entry.state == BUILDING:
            row["status"] = "building"
            elapsed = max(now - parse_ts(entry.created_at).timestamp(), 1e-3)
            rate = position / elapsed
            row["progress"] = round(position / head, 4) if head else 1.0
            row["events_per_s"] = round(rate, 1)
            row["eta_seconds"] = round(lag / rate, 1) if rate > 0 else None
        elif entry.version != getattr(projections.get(entry.name), "version", None):
            row["status"] = "stale_version"
        else:
            row["status"] = "live" if lag == 0 else "catching_up"
        out.append(row)
    return out


def rebuild(
    app: Ledger,
    store: ReadStore,
    projections: Mapping[str, Projection],
    names: Sequence[str],
    *,
    page_size: int,
    keep: bool,
    progress: Callable[[int, int], None],
    should_stop: Callable[[], bool],
    reload: Callable[[], None],
) -> list[CatalogEntry]:
    """Builds a fresh copy of each projection beside the live one, catches it
    up to the head, switches the public views to it atomically, then drops the
    old tables (unless ``keep``). A build that was interrupted is resumed.
    ``reload``: makes this process's live runner follow the catalog (it must
    leave an old build before its tables go)."""
    unknown = [n for n in names if n not in projections]
    if unknown:
        msg = f"Unknown projection(s): {', '.join(unknown)}"
        raise KeyError(msg)
    slots = [_resume_or_start(store, projections[name]) for name in names]

    head = app.head()
    progress(min(s.position for s in slots), head)

    def on_page(position: int) -> None:
        progress(position, max(head, position))

    with relaxed_gc():
        if all(s.position == 0 for s in slots):
            # New tables: folded in bulk, without the page engine's planning.
            run_bulk(app, store, slots, page_size=page_size,
                     should_stop=should_stop, on_page=on_page)
        else:  # resumed: rows already stored are read back as pages need them
            run_pages(
                app, store, slots, page_size=page_size,
                should_stop=should_stop, on_page=on_page, only_relevant=True,
            )
    if should_stop():
        return [s.entry for s in slots]
    switched = []
    for slot in slots:
        old = _switch(app, store, slot, page_size)
        if old is not None and not keep:
            reload()
            store.drop_tables(old, projections[old.name])
        switched.append(slot.entry)
    progress(app.head(), app.head())
    reload()
    return switched


def _resume_or_start(store: ReadStore, projection: Projection) -> Slot:
    """The newest ``building`` build of this version (an interrupted rebuild),
    else a new generation; its tables without secondary indexes."""
    catalog = store.catalog()
    resumable = [
        e for e in catalog
        if e.name == projection.name and e.state == BUILDING and e.version == projection.version
    ]
    if resumable:
        entry = resumable[-1]
        store.ensure_position(entry)
    else:
        entry = new_entry(catalog, projection)
        store.add_entry(entry)
    store.create_tables(entry, projection, indexes=False)
    return Slot(entry, projection, store.position(entry))


def _switch(app: Ledger, store: ReadStore, slot: Slot, page_size: int) -> CatalogEntry | None:
    """Secondary indexes are built once, after the bulk load (much cheaper than
    maintaining them row by row); then the last events that arrived during the
    build, then the atomic switch. Returns the build it replaced."""
    store.create_indexes(slot.entry, slot.projection)
    old = next(
        (e for e in store.catalog() if e.name == slot.entry.name and e.state == LIVE),
        None,
    )
    for attempt in range(SWITCH_ATTEMPTS):
        run_pages(app, store, [slot], page_size=page_size)
        try:
            store.switch(slot.entry, old, slot.projection)
            break
        except SwitchBehindError:
            if attempt == SWITCH_ATTEMPTS - 1:
                raise
            time.sleep(0.01)  # the live build moved on: catch up again
    return old
