"""ledger.adapter overrides private methods of eventsourcing: this fails as soon
as the installed library is not the release it was written against, or one of
those methods is gone or takes other parameters."""

from __future__ import annotations

import inspect
import pathlib
import re
from importlib.metadata import version

import pytest

from ledger import adapter

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"


def test_the_installed_eventsourcing_is_the_pinned_release() -> None:
    assert version("eventsourcing") == adapter.PINNED
    pyproject = (SRC.parent / "pyproject.toml").read_text()
    assert f'"eventsourcing[postgres]=={adapter.PINNED}"' in pyproject


@pytest.mark.parametrize(
    ("owner", "name"), list(adapter.RELIED_ON), ids=lambda v: getattr(v, "__name__", v)
)
def test_each_private_method_relied_on_has_its_known_signature(owner: type, name: str) -> None:
    method = owner.__dict__.get(name)
    assert method is not None, f"{owner.__name__}.{name} is gone"
    method = getattr(method, "__func__", method)  # a classmethod's function
    assert tuple(inspect.signature(method).parameters) == adapter.RELIED_ON[(owner, name)]


def test_the_adapter_overrides_only_what_it_declares() -> None:
    recorder = adapter.HookedPostgresApplicationRecorder
    private = {
        n for n in vars(recorder)
        if n.startswith("_") and not n.startswith("__") and n != "_abc_impl"
    }
    assert private <= {name for (_owner, name) in adapter.RELIED_ON}


def test_no_other_module_uses_private_names_of_eventsourcing() -> None:
    # What the adapter overrides or calls, written anywhere else in src/.
    names = {name for (_owner, name) in adapter.RELIED_ON} | {
        "_record", "_take_snapshots", "_notify", "_pending_events",
    }
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(names))) + r")\b")
    offenders = [
        f"{path.relative_to(SRC)}:{n}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "adapter.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
