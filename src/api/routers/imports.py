"""``POST /imports/csv``: seed 004's CSV files over HTTP (its ``/developers/sync/``
and ``/tickets/sync/``), doing what ``ledger import csv`` does, through the same
code (``api.legacy_import``), with the same report."""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from fastapi.exceptions import RequestValidationError

from api.auth import MANAGE, allow
from api.deps import ActorDep, ServicesDep
from api.legacy_import import CsvFile, CsvFileError, import_csv, reconcile
from api.schemas_imports import (
    DEVELOPERS_CSV,
    EXAMPLE_DEVELOPERS,
    EXAMPLE_TICKETS,
    TICKETS_CSV,
    CsvImportReport,
)

router = APIRouter(prefix="/imports", tags=["imports"])

#: The longest file name a report repeats.
MAX_NAME = 100

DESCRIPTION = """\
Imports seed 004's CSV files, as `ledger import csv --tickets ... --engineers ...`
does: developers become engineers (a changed row updates them), then each ticket row
is opened and assigned as its `status` says, every event with `via: "import"` and the
caller as actor. Safe to send again: what is recorded already is found (ids are
name-based) and nothing is recorded twice.

`multipart/form-data` with a part `tickets`, a part `developers`, or both (at least
one). Each file is read whole before anything is recorded: a file that is not CSV text
in UTF-8 is a 422 and nothing is recorded. A bad row (unknown status, empty title, an
assignee that is no developer, ...) is reported in `bad_rows` with its reason and
nothing of it is recorded; the other rows are. The whole request is limited to
`LEDGER_MAX_BODY_BYTES` (413 beyond). Admin only.
"""

OPENAPI_EXTRA: dict[str, Any] = {"requestBody": {"content": {"multipart/form-data": {
    "example": {"tickets": EXAMPLE_TICKETS, "developers": EXAMPLE_DEVELOPERS},
}}}}


def _csv_file(upload: UploadFile, field: str) -> CsvFile:
    """The upload as CSV text (a UTF-8 byte order mark dropped); 422 when not UTF-8."""
    try:
        text = upload.file.read().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise RequestValidationError([{
            "loc": ("body", field), "type": "value_error",
            "msg": f"The {field} file is not UTF-8 text: {e.reason} at byte {e.start}.",
        }]) from None
    name = (upload.filename or f"{field}.csv")[:MAX_NAME]
    return CsvFile(name, io.StringIO(text, newline=""))


@router.post("/csv", response_model=CsvImportReport, dependencies=[allow(MANAGE)],
             description=DESCRIPTION, openapi_extra=OPENAPI_EXTRA,
             responses={403: {"description": "not an admin"},
                        413: {"description": "the request is over LEDGER_MAX_BODY_BYTES"},
                        422: {"description": "no file, or a file that is not CSV text"}})
def import_csv_files(
    services: ServicesDep,
    actor: ActorDep,
    tickets: Annotated[UploadFile | None, File(description=TICKETS_CSV)] = None,
    developers: Annotated[UploadFile | None, File(description=DEVELOPERS_CSV)] = None,
) -> CsvImportReport:
    if tickets is None and developers is None:
        raise RequestValidationError([{
            "loc": ("body",), "type": "missing",
            "msg": "Send a `tickets` file, a `developers` file, or both (multipart/form-data).",
        }])
    files = {field: _csv_file(upload, field)
             for field, upload in (("tickets", tickets), ("developers", developers))
             if upload is not None}
    try:
        report = import_csv(services, files.get("tickets"), files.get("developers"), actor)
    except CsvFileError as e:
        raise RequestValidationError([{"loc": ("body",), "type": "value_error",
                                       "msg": str(e)}]) from None
    return CsvImportReport.of(report, reconcile(services, report))
