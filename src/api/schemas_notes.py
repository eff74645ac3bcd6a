"""Request and response bodies of ticket notes, and of the notes an engineer
sends with accept and start."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import WHEN, Request, Text, examples

NoteText = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class NoteCreate(Request):
    model_config = examples({"kind": "internal", "text": "Customer asks for a call before 9."},
                            {"kind": "client", "text": "An engineer is on the way."})

    kind: Literal["internal", "client"] = Field(
        description="`internal` (staff only) or `client` (may be shown to the customer); "
                    "`system` notes are the ledger's own and cannot be posted.")
    text: NoteText = Field(description="The note, 1 to 4000 characters.")


class Note(BaseModel):
    id: str = Field(description="The note's id.")
    ticket_id: str = Field(description="The ticket it is on.")
    kind: Literal["internal", "client", "system"] = Field(
        description="internal, client, or system (written by the ledger itself, e.g. when "
                    "the ticket joins a repeat fault).")
    text: str = Field(description="The note.")
    author: str = Field(description="Who wrote it (the authenticated principal, or `system`).")
    created_at: str = Field(description=f"When it was written; {WHEN}")


class NotesBody(Request):
    model_config = examples({"notes": "Parking at the back of the building."})

    notes: Text | None = Field(None, description="The engineer's notes, added to the assignment's.")
