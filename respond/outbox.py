"""The outbox: replies are committed as rows before anything is sent.

Each row gets our own Message-ID up front, so threading recognises the customer's answer and
the sender can tell whether a row already went out. Header values from customer input are
flattened to one line, so a CR/LF in a subject can never add a header.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Protocol

from models import Event

LINE_BREAKS = re.compile(r"[\r\n\t\x0b\x0c\x85\u2028\u2029]+")
REPLY_PREFIX = re.compile(r"^\s*((re|aw|fw|fwd|rv|res)\s*:\s*)+", re.IGNORECASE)


def one_line(value: str) -> str:
    """Flatten a header value: no CR/LF or other line breaks survive."""
    return " ".join(LINE_BREAKS.sub(" ", value).split())


OUR_MESSAGE_ID_PREFIX = "<eteam."


def new_message_id(domain: str) -> str:
    """Our own Message-ID; the `eteam.` prefix is how threading recognises our mail."""
    return f"{OUR_MESSAGE_ID_PREFIX}{uuid.uuid4().hex}@{domain}>"


def reply_subject(original: str, sr_number: str | None) -> str:
    """`Re: <original>` with the case number tag when there is a case."""
    base = REPLY_PREFIX.sub("", one_line(original)) or "Your message to LADWP"
    tag = f" [SR {sr_number}]" if sr_number and f"[SR {sr_number}]" not in base else ""
    return f"Re: {base}{tag}"


class Answered(Protocol):
    """What a reply reads of the message it answers: a stored row, or the pipeline's copy of one."""

    id: int
    message_id: str
    reply_to: str
    from_addr: str
    subject: str
    references: str


def reply_values(
    message: Answered,
    *,
    body: str,
    template: str,
    lang: str,
    domain: str,
    sr_number: str | None,
    send_now: bool,
) -> dict[str, Any]:
    """An outbox row answering `message`, as column values (its case link aside).

    Queued when it may go out now, a draft when an agent must approve it. Plain values, so
    that the pipeline can write a batch's replies together.
    """
    references = " ".join(filter(None, [message.references, message.message_id]))
    return {
        "message_id": message.id,
        "service_request_id": None,
        "header_message_id": new_message_id(domain),
        "to_addr": one_line(message.reply_to or message.from_addr),
        "subject": reply_subject(message.subject, sr_number),
        "body": body,
        "lang": lang,
        "template": template,
        "in_reply_to": message.message_id,
        "references": one_line(references)[-4000:],
        "auto_submitted": send_now,  # no person approved it
        "status": "queued" if send_now else "draft",
        "reason": None,
    }


def reply_event(values: dict[str, Any]) -> dict[str, Any]:
    """The event recording that the reply in `values` was queued or drafted."""
    return Event.row(
        "reply_queued" if values["auto_submitted"] else "reply_drafted",
        message_id=values["message_id"],
        data={"header_message_id": values["header_message_id"], "template": values["template"]},
    )
