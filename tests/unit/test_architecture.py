"""The shape of the house, checked over the whole of src/ (docs/architecture.md):

* every module under 500 lines;
* no import cycle among modules, inside packages included (every import
  statement counts, those inside functions too; only imports for type
  checkers, under ``if TYPE_CHECKING:``, are left out);
* layers: ``api`` -> ``projections`` -> ``ledger``, never upwards;
* no private or undocumented names of the web stack (uvicorn, Starlette,
  FastAPI) anywhere;
* eventsourcing's private names (its ``_``-prefixed modules, functions,
  methods and attributes) in one adapter module only, ``ledger/adapter.py``.

The import graph is grimp's (the library under import-linter).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

import grimp
import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
#: The layers, the highest first: a package may import those below it only.
LAYERS = ("api", "projections", "ledger")
MAX_LINES = 500
#: The one module allowed to use eventsourcing's private names.
ADAPTER = "ledger.adapter"
WEB_STACK = ("starlette", "fastapi", "uvicorn")
#: Undocumented functions of FastAPI (its request handling's insides).
UNDOCUMENTED = frozenset({"request_body_to_args", "serialize_response"})


def _modules() -> dict[str, Path]:
    """Every module of src/, by dotted name."""
    found = {}
    for package in LAYERS:
        for path in sorted((SRC / package).rglob("*.py")):
            parts = path.relative_to(SRC).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


@cache
def _tree(name: str) -> ast.Module:
    return ast.parse(_modules()[name].read_text(), filename=str(_modules()[name]))


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _of_eventsourcing(module: str | None) -> bool:
    return (module or "").split(".")[0] == "eventsourcing"


def _graph(*, type_checking: bool) -> grimp.ImportGraph:
    return grimp.build_graph(
        *LAYERS, exclude_type_checking_imports=not type_checking, cache_dir=None
    )


# ---------------------------------------------------------------------- size


def test_every_module_is_under_500_lines() -> None:
    lengths = {name: len(path.read_text().splitlines()) for name, path in _modules().items()}
    too_long = {name: n for name, n in sorted(lengths.items()) if n >= MAX_LINES}
    assert not too_long, f"modules of {MAX_LINES} lines or more: {too_long}"


# ---------------------------------------------------------------------- imports


def _cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """One shortest cycle through each import that closes one, each cycle once."""
    found: dict[frozenset[str], tuple[str, ...]] = {}
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                cycle = (importer, *back)
                found.setdefault(frozenset(cycle), cycle)
    return sorted(found.values())


def test_the_cycle_finder_finds_a_cycle_inside_a_package() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "q")):
        graph.add_import(importer=importer, imported=imported)
    assert _cycles(graph) == [("p.a", "p.b", "p.c", "p.a")]


def test_no_import_cycle() -> None:
    cycles = [" -> ".join(c) for c in _cycles(_graph(type_checking=False))]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_layers_import_downwards_only() -> None:
    illegal = _graph(type_checking=True).find_illegal_dependencies_for_layers(layers=LAYERS)
    found = sorted(
        " -> ".join([",".join(sorted(route.heads)), *route.middle, ",".join(sorted(route.tails))])
        for dependency in illegal
        for route in dependency.routes
    )
    assert not found, "imports against the layers api -> projections -> ledger:\n" + "\n".join(
        found)


# ---------------------------------------------------------------------- the web stack


def _web_stack_privates(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        imported: list[tuple[str, str]] = []
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported = [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            imported = [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.Attribute) and node.attr in UNDOCUMENTED:
            yield f"line {node.lineno}: .{node.attr}"
        for module, name in imported:
            parts = module.split(".")
            if parts[0] not in WEB_STACK:
                continue
            if (
                any(_private(p) for p in parts)
                or module.startswith("uvicorn.protocols")
                or _private(name)
                or name in UNDOCUMENTED
            ):
                yield f"line {node.lineno}: {module}{'.' + name if name else ''}"


def test_the_web_stack_private_names_detector() -> None:
    tree = ast.parse(
        "from starlette._exception_handler import wrap_app_handling_exceptions\n"
        "from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol\n"
        "from fastapi.dependencies.utils import request_body_to_args\n"
        "import fastapi.routing\n"
        "fastapi.routing.serialize_response\n"
        "from starlette.routing import Route\n"
    )
    assert [line.split(":")[0] for line in _web_stack_privates(tree)] == [
        "line 1", "line 2", "line 3", "line 5"]


def test_no_private_names_of_the_web_stack() -> None:
    found = [f"{name} {use}" for name in _modules() for use in _web_stack_privates(_tree(name))]
    assert not found, "private or undocumented names of uvicorn/Starlette/FastAPI:\n" + "\n".join(
        found)


# ---------------------------------------------------------------------- eventsourcing


def _eventsourcing_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> what it is bound to, for each import from eventsourcing."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _of_eventsourcing(node.module):
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _of_eventsourcing(alias.name):
                    names[alias.asname or alias.name.split(".")[0]] = alias.name
    return names


@cache
def _private_names_of(cls: type) -> frozenset[str]:
    """The private names an eventsourcing class defines: in its body, and the
    attributes its methods set on ``self``."""
    names = {n for n in vars(cls) if _private(n)}
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return frozenset(names)
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and _private(node.attr)
        ):
            names.add(node.attr)
    return frozenset(names)


def _eventsourcing_bases(cls: object) -> list[type]:
    if not isinstance(cls, type):
        return []
    return [c for c in cls.__mro__ if c.__module__.split(".")[0] == "eventsourcing"]


def _eventsourcing_privates(tree: ast.Module, namespace: Mapping[str, object]) -> Iterator[str]:
    """Uses of eventsourcing's private names in one module (``tree``; its
    classes in ``namespace``): imports of them, attributes of what was imported
    from it, and in a class derived from one of its classes, overrides and uses
    (on ``self``, ``cls``, ``super()``) of that class's private names."""
    imported = _eventsourcing_names(tree)
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom) and _of_eventsourcing(node.module):
            targets = [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names if _of_eventsourcing(alias.name)]
        for target in targets:
            if any(_private(part) for part in target.split(".")):
                yield f"line {node.lineno}: import of {target}"
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported
        ):
            yield f"line {node.lineno}: {node.value.id}.{node.attr}"
    for cls_node in tree.body:
        if not isinstance(cls_node, ast.ClassDef):
            continue
        private = frozenset().union(
            *(_private_names_of(c) for c in _eventsourcing_bases(namespace.get(cls_node.name))))
        if not private:
            continue
        for node in ast.walk(cls_node):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in private:
                yield f"line {node.lineno}: {cls_node.name} overrides {node.name}"
            elif isinstance(node, ast.Attribute) and node.attr in private and (
                (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                or (isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
                    and node.value.func.id == "super")
            ):
                yield f"line {node.lineno}: {cls_node.name} uses {node.attr}"


def test_the_eventsourcing_private_names_detector() -> None:
    from eventsourcing.application import Application

    tree = ast.parse(textwrap.dedent("""
        from eventsourcing.application import Application
        from eventsourcing.persistence import _private_thing
        import eventsourcing._private_module

        class Ledger(Application):
            def _record(self, processing_event):
                self._take_snapshots(processing_event)
                return super()._record(processing_event)

            def _mine(self):
                return Application._notify
    """))
    namespace = {"Ledger": type("Ledger", (Application,), {})}
    found = [use.split(":", 1)[1].strip() for use in _eventsourcing_privates(tree, namespace)]
    assert sorted(found) == sorted([
        "import of eventsourcing.persistence._private_thing",
        "import of eventsourcing._private_module",
        "Application._notify",
        "Ledger overrides _record",
        "Ledger uses _take_snapshots",
        "Ledger uses _record",
    ])


@pytest.mark.parametrize("package", LAYERS)
def test_eventsourcing_private_names_only_in_the_adapter(package: str) -> None:
    found = [
        f"{name} {use}"
        for name in _modules()
        if name.split(".")[0] == package and name != ADAPTER
        for use in _eventsourcing_privates(_tree(name), vars(importlib.import_module(name)))
    ]
    assert not found, (
        f"eventsourcing's private names outside {ADAPTER}:\n" + "\n".join(found))
