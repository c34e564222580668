"""The outbox: replies are committed as rows before anything is sent.

Each row gets our own Message-ID up front, so threading recognises the customer's answer and
the sender can tell whether a row already went out. Header values from customer input are
flattened to one line, so a CR/LF in a subject can never add a header.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy.orm import Session

from models import Event, Message, OutboundReply, ServiceRequest

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


def enqueue_reply(
    session: Session,
    message: Message,
    *,
    body: str,
    template: str,
    lang: str,
    domain: str,
    request: ServiceRequest | None,
    send_now: bool,
) -> OutboundReply:
    """Commit-ready outbox row: queued when it may go out now, draft when an agent must approve.

    Nothing is flushed here: the row and its event reach the database with the rest of the
    batch, which is what lets a batch of thousands be written in a few statements.
    """
    references = " ".join(filter(None, [message.references, message.message_id]))
    reply = OutboundReply(
        message_id=message.id,
        service_request=request,
        header_message_id=new_message_id(domain),
        to_addr=one_line(message.reply_to or message.from_addr),
        subject=reply_subject(message.subject, request.number if request else None),
        body=body,
        lang=lang,
        template=template,
        in_reply_to=message.message_id,
        references=one_line(references)[-4000:],
        auto_submitted=send_now,  # no person approved it
        status="queued" if send_now else "draft",
    )
    session.add(reply)
    session.add(
        Event(kind="reply_queued" if send_now else "reply_drafted", message_id=message.id,
              data={"header_message_id": reply.header_message_id, "template": template})
    )
    return reply
