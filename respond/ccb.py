"""CCB notes: the one-line record of what was done for a customer, waiting in the CCB outbox.

A Customer Contact note is about the customer, a Premise Note about the address (gate code,
dog, meter location). Every note is masked with `classify.extract.mask_pii` and cut to the
254 characters CCB accepts.
"""

from __future__ import annotations

from typing import Any

from classify.extract import mask_pii

CCB_NOTE_LIMIT = 254
NOTE_TYPES = {"customer_contact": "Customer Contact", "premise": "Premise Note"}


def short_name(full_name: str) -> str:
    """`Maria Lopez` → `M. Lopez`: enough to recognise, little to leak."""
    parts = full_name.split()
    if len(parts) >= 2:
        return f"{parts[0][0]}. {parts[-1]}"
    return parts[0] if parts else "unknown"


def note_text(
    *, sr_number: str | None, customer_name: str, verified: bool, issue: str, action: str, next_step: str
) -> str:
    """The note line, shaped as SPEC §5 shows, masked and at most 254 characters."""
    reference = f"SR#{sr_number}" if sr_number else "NO SR"
    status = "verified" if verified else "unverified"
    line = (
        f"E-TEAM EMAIL {reference} | Cust: {short_name(customer_name)} ({status}) | "
        f"Issue: {issue} | Action: {action} | Next: {next_step}"
    )
    line = mask_pii(" ".join(line.split()))
    return line if len(line) <= CCB_NOTE_LIMIT else line[: CCB_NOTE_LIMIT - 1] + "…"


def note_values(*, note_type: str, text: str, account_number: str | None, message_id: int | None) -> dict[str, Any]:
    """A pending note for the CCB outbox, as column values (its case link aside)."""
    return {
        "service_request_id": None,
        "message_id": message_id,
        "note_type": NOTE_TYPES[note_type],
        "text": text,
        "account_number": account_number,
        "status": "pending",
    }
