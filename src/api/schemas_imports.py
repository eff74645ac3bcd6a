"""``POST /imports/csv``'s answer: the report ``ledger import csv`` prints, as JSON
(``api.legacy_import`` makes both)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.legacy_import import ImportReport, Reconciliation

#: seed 004's two files, as the CLI takes them (``--tickets``, ``--engineers``).
TICKETS_CSV = ("tickets CSV (seed 004's tickets table): id, title, description, story_points, "
               "required_skill, priority, due_date, status, assigned_to.")
DEVELOPERS_CSV = ("developers CSV (seed 004's developers table): name, title, experience_years, "
                  "current_workload, availability, skills, capacity. Imported first, so "
                  "tickets can name them in assigned_to.")

EXAMPLE_TICKETS = (
    "id,title,description,story_points,required_skill,priority,due_date,status,assigned_to\n"
    "1,Router down,No sync,3,fibre,High,2024-05-01,pending,\n"
    "2,ONT flapping,,2,ont,urgent,2024-05-02,assigned,Aisha Khan\n"
)
EXAMPLE_DEVELOPERS = (
    "name,title,experience_years,current_workload,availability,skills,capacity\n"
    'Aisha Khan,Senior Engineer,7,2,0.8,"fibre, ont",5\n'
)


class TicketOutcomes(BaseModel):
    created: int = Field(description="Tickets opened by this import.")
    updated: int = Field(description="Tickets recorded before whose legacy row moved on: "
                                     "what was missing was added.")
    unchanged: int = Field(description="Tickets recorded before, nothing to add.")
    diverged: int = Field(description="Tickets that moved on in the ledger since they were "
                                      "imported: left as they are.")
    bad: int = Field(description="Rows not imported (see `bad_rows`): nothing of them "
                                 "was recorded.")


class EngineerOutcomes(BaseModel):
    registered: int = Field(description="Developers registered as engineers.")
    updated: int = Field(description="Engineers whose developer row changed: the changed "
                                     "fields were recorded.")
    unchanged: int = Field(description="Engineers registered before, nothing changed.")
    bad: int = Field(description="Developer rows not imported (see `bad_rows`).")


class RowMessage(BaseModel):
    row: str = Field(description="`file:line` of the CSV row (the header is line 1).")
    message: str = Field(description="Why the row was not imported, or what was noted.")


class ImportReconciliation(BaseModel):
    ok: bool = Field(description="Whether the ledger agrees with the files: every row with "
                                 "an assignee has an active or completed assignment, every "
                                 "rejected row a rejected one.")
    legacy_assignees: int = Field(description="Ticket rows naming an assignee (not rejected).")
    active: int = Field(description="Active assignments of the imported tickets.")
    completed: int = Field(description="Completed assignments of the imported tickets.")
    legacy_rejected: int = Field(description="Rejected rows naming an assignee.")
    rejected: int = Field(description="Rejected assignments of the imported tickets.")
    bad_assignees: int = Field(description="Rows naming an assignee that were bad rows: "
                                           "why `ok` may be false.")


class CsvImportReport(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "tickets": {"created": 2, "updated": 0, "unchanged": 0, "diverged": 0, "bad": 0},
        "engineers": {"registered": 1, "updated": 0, "unchanged": 0, "bad": 0},
        "bad_rows": [], "notes": [],
        "reconciliation": {"ok": True, "legacy_assignees": 1, "active": 1, "completed": 0,
                           "legacy_rejected": 0, "rejected": 0, "bad_assignees": 0},
    }]})

    tickets: TicketOutcomes = Field(description="What became of each ticket row.")
    engineers: EngineerOutcomes = Field(description="What became of each developer row, "
                                                    "and of assignees met in ticket rows.")
    bad_rows: list[RowMessage] = Field(description="Rows not imported, with the reason.")
    notes: list[RowMessage] = Field(description="Rows imported with a note (a priority "
                                                "taken as medium, a title cut ...).")
    reconciliation: ImportReconciliation = Field(
        description="The files' counts against the read tables' (what the CLI's "
                    "\"Reconciliation: OK | MISMATCH\" line says).")

    @classmethod
    def of(cls, report: ImportReport, result: Reconciliation) -> CsvImportReport:
        return cls(
            tickets=TicketOutcomes(**{k: report.outcomes[k] for k in TicketOutcomes.model_fields}),
            engineers=EngineerOutcomes(
                **{k: report.engineers[k] for k in EngineerOutcomes.model_fields}),
            bad_rows=[RowMessage(row=where, message=why) for where, why in report.bad],
            notes=[RowMessage(row=where, message=note) for where, note in report.notes],
            reconciliation=ImportReconciliation(
                ok=result.ok, legacy_assignees=result.legacy_assignees, active=result.active,
                completed=result.completed, legacy_rejected=result.legacy_rejected,
                rejected=result.rejected, bad_assignees=report.bad_assignees),
        )
