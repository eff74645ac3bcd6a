"""The router tries the commands first; every request still reaches the route it
reached in the declared order, and the OpenAPI document keeps that order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.routing import Match

import api.app as app_module
from api.app import FIRST, create_app, match_first
from api.settings import Settings

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, reorder: bool) -> FastAPI:
    if not reorder:
        monkeypatch.setattr(app_module, "match_first", lambda app: None)
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/l.db", admin_token="t" * 40,
                              bootstrap_admin_key=False, signing_key=str(tmp_path / "key")))
    monkeypatch.undo()
    return app


def resolve(app: FastAPI, method: str, path: str) -> tuple[str, Any, str] | None:
    """What Starlette's router picks: the first full match, else the first partial."""
    scope = {"type": "http", "path": path, "root_path": "", "method": method}
    partial = None
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return ("full", getattr(route, "path", None), getattr(route, "name", None))
        if match == Match.PARTIAL and partial is None:
            partial = ("partial", getattr(route, "path", None), getattr(route, "name", None))
    return partial


def test_the_commands_are_tried_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = build(tmp_path, monkeypatch, reorder=True)
    head = [(sorted(r.methods)[0], r.path) for r in app.router.routes[: len(FIRST)]]
    assert head == list(FIRST)


def test_every_request_reaches_the_route_it_reached_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    declared = build(tmp_path / "a", monkeypatch, reorder=False)
    reordered = build(tmp_path / "b", monkeypatch, reorder=True)
    assert declared.router.routes[0].path == "/openapi.json"  # the declared order
    paths = {getattr(r, "path", "") for r in declared.router.routes}
    samples = set()
    for path in paths:
        for value in ("00000000-0000-4000-8000-000000000000", "at", "escalate", "x"):
            filled = path
            while "{" in filled:
                start, end = filled.index("{"), filled.index("}")
                filled = filled[:start] + value + filled[end + 1:]
            samples.add(filled)
    samples |= {"/assignments/", "/nowhere", "/tickets/x/y/z"}
    checked = 0
    for path in sorted(samples):
        for method in METHODS:
            assert resolve(reordered, method, path) == resolve(declared, method, path), (
                method, path)
            checked += 1
    assert checked > 300


def test_the_openapi_document_keeps_the_declared_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    declared = build(tmp_path / "a", monkeypatch, reorder=False)
    reordered = build(tmp_path / "b", monkeypatch, reorder=True)
    assert list(reordered.openapi()["paths"]) == list(declared.openapi()["paths"])
    assert reordered.openapi() == declared.openapi()


def test_a_route_that_would_change_what_answers_is_refused() -> None:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    def get_thing(thing_id: str) -> str:
        return thing_id

    @app.post("/things/special")
    def special() -> str:
        return "special"

    # Ahead of /things/{thing_id}, POST /things/special would answer a PATCH
    # /things/special's 405 (Allow: POST instead of GET).
    with pytest.raises(ValueError, match="could take requests"):
        match_first(app, [("POST", "/things/special")])
    with pytest.raises(ValueError, match="no route"):
        match_first(app, [("POST", "/nothing")])
