"""The OpenAPI document explains itself: walked as a client gets it from
``/openapi.json``, every operation has a description and one declared tag,
every command body an example that the body's own schema accepts, and every
column of the read tables the seeds define (and of the engineer) a description.

The document needs no store: the app is built but not started (no lifespan).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings

#: The read tables of the contract (seed 002's tables, and tickets) and the roster.
SEED_COLUMNS = ("EngineerAssignment", "CurrentAssignment", "HistoryRow", "Ticket", "Engineer")
#: Methods whose operations record something (a command).
COMMANDS = {"post", "put", "patch", "delete"}
#: The whole module on one pytest-xdist worker: ``document`` is made once.
pytestmark = pytest.mark.xdist_group("openapi-document")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    where = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=f"sqlite:///{where}/ledger.db", demo_on_empty=False,
    ))
    response = TestClient(app).get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def refs(schema: Any) -> Iterator[str]:
    """The names of the component schemas ``schema`` refers to, at any depth."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            yield ref.rsplit("/", 1)[1]
        for value in schema.values():
            yield from refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from refs(value)


def body_media(body: dict[str, Any]) -> dict[str, Any]:
    """A request body's JSON media type, else its one other (``POST /imports/csv``'s
    multipart/form-data, whose example is its parts' text)."""
    content = body["content"]
    if "application/json" in content:
        return content["application/json"]
    (media,) = content.values()
    return media


def body_examples(document: dict[str, Any], body: dict[str, Any]) -> list[Any]:
    """The examples of a request body: its media type's own, else its schemas'."""
    media = body_media(body)
    found = [media["example"]] if "example" in media else []
    found += [e["value"] for e in media.get("examples", {}).values()]
    if not found:
        for name in refs(media["schema"]):
            found += document["components"]["schemas"][name].get("examples", [])
    return found


def test_every_operation_has_a_description_and_one_declared_tag(
    document: dict[str, Any],
) -> None:
    declared = {tag["name"]: tag.get("description", "") for tag in document.get("tags", [])}
    used: set[str] = set()
    missing = []
    for name, operation in operations(document):
        tags = operation.get("tags", [])
        used.update(tags)
        if not operation.get("description", "").strip():
            missing.append(f"{name}: no description")
        if len(tags) != 1 or tags[0] not in declared:
            missing.append(f"{name}: tags {tags}, not one of {sorted(declared)}")
    assert not missing, "\n".join(missing)
    assert all(description.strip() for description in declared.values()), declared
    assert used == set(declared), f"declared but unused: {sorted(set(declared) - used)}"


def test_every_command_body_has_an_example_its_schema_accepts(
    document: dict[str, Any],
) -> None:
    checked, missing = 0, []
    for name, operation in operations(document):
        body = operation.get("requestBody")
        if body is None:
            continue
        assert name.split()[0].lower() in COMMANDS, f"{name} takes a body"
        schema = {**body_media(body)["schema"],
                  "components": document["components"]}
        validator = jsonschema_rs.validator_for(schema)
        examples = body_examples(document, body)
        if not examples:
            missing.append(f"{name}: no example body")
        for example in examples:
            errors = [error.message for error in validator.iter_errors(example)]
            assert not errors, f"{name}: the example {example} is refused: {errors}"
            checked += 1
    assert not missing, "\n".join(missing)
    assert checked >= 12  # every command of the contract that takes a body


@pytest.mark.parametrize("schema_name", SEED_COLUMNS)
def test_every_seed_column_has_a_description(document: dict[str, Any], schema_name: str) -> None:
    properties = document["components"]["schemas"][schema_name]["properties"]
    undescribed = [name for name, p in properties.items() if not p.get("description", "").strip()]
    assert not undescribed, f"{schema_name}: no description for {undescribed}"
