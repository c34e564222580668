"""Raw message bytes to a `ParsedMessage`: the one place that decides what a message is.

Every later stage (classification, routing, outage linking, loop protection) works from
this record, so it must exist for every input: `parse_message` never raises. A message the
stdlib cannot read at all still gets an id, a hash, its bytes as text and the reason in
`defects`, and the whole raw message is always kept by the store for a later re-parse.

Which kind a message is, in order: a bounce (it concerns a reply we sent), an outage
broadcast from a trusted sender, a web-form submission, other automatic mail, and
otherwise a customer's own mail.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser

from eteam.settings import Settings
from ingest.automatic import BounceInfo, classify_automatic
from ingest.mime import (
    AttachmentInfo,
    Body,
    clean_text,
    decode_address_header,
    decode_bytes,
    decode_header_value,
    extract_body,
    header_index,
    parse_bytes,
    parse_date,
    raw_header_values,
)
from ingest.newtext import extract_new_text
from ingest.outage import OutageNotice, is_trusted_sender, parse_outage
from ingest.webform import form_labels, is_webform, preferred_language, read_form, subject_topic

__all__ = [
    "AttachmentInfo",
    "BounceInfo",
    "OutageNotice",
    "ParsedMessage",
    "message_id_of",
    "parse_message",
]

#: Headers kept on the record: what threading, loop protection and agents need to see.
KEPT_HEADERS = (
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "Precedence",
    "Return-Path",
    "List-Id",
    "List-Unsubscribe",
    "X-Autoreply",
    "X-Loop",
    "Authentication-Results",
    "Content-Type",
)
#: Kept headers whose addresses are read too.
ADDRESS_HEADERS = ("From", "Reply-To", "To")
SYNTHETIC_ID_DOMAIN = "no-message-id.eteam"
#: Longest Message-ID kept; the database column holds 998 characters (RFC 5322's line limit).
MESSAGE_ID_LIMIT = 998
DEFECT_LIMIT = 50

_ANGLE_ID = re.compile(r"<([^<>]{1,990})>")
# The end of the header block; a "\r" before its first "\n" would not move the end.
_BLANK_LINE = re.compile(rb"\n\r?\n")
_SPACES = re.compile(r"\s+")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


@dataclass
class ParsedMessage:
    """Everything the pipeline needs to know about one inbound message."""

    message_id: str
    content_hash: str
    headers: dict[str, str] = field(default_factory=dict)
    from_addr: str = ""
    from_name: str = ""
    reply_to: str = ""
    to_addr: str = ""
    subject: str = ""
    date: datetime | None = None
    text: str = ""
    new_text: str = ""
    kind: str = "customer"
    auto_reason: str | None = None
    form_fields: dict[str, str] = field(default_factory=dict)
    topic: str | None = None
    preferred_lang: str | None = None
    outage: OutageNotice | None = None
    bounce: BounceInfo | None = None
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    attachments: list[AttachmentInfo] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


def _normalize_message_id(values: list[str], digest: str) -> str:
    """`<id>` from the first Message-ID header; a content-hash id when it is missing or unusable."""
    value = _SPACES.sub("", values[0]) if values else ""
    match = _ANGLE_ID.search(value)
    candidate = (
        f"<{match.group(1)}>"
        if match
        else (f"<{value.strip('<>')}>" if value.strip("<>") else "")
    )
    if (
        not candidate
        or len(candidate) > MESSAGE_ID_LIMIT
        or not candidate.isprintable()
    ):
        return f"<{digest}@{SYNTHETIC_ID_DOMAIN}>"
    return candidate


def message_id_of(raw: bytes) -> str:
    """The id `parse_message` will give these bytes, from the headers alone (for de-duplication).

    Only the bytes up to the first blank line are parsed: the parser's reading of the header
    block never depends on what follows it, and decoding the body as well cost time in
    proportion to the message's size, attachments included (tests/test_corpora_mail.py
    compares the result with `parse_message`'s).
    """
    raw = bytes(raw)
    digest = hashlib.sha256(raw).hexdigest()
    blank_line = _BLANK_LINE.search(raw)
    header_block = raw[: blank_line.end()] if blank_line else raw
    try:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(header_block)
        values = raw_header_values(headers, "Message-ID")
    except Exception:  # noqa: BLE001 - unreadable headers: the id comes from the content hash
        values = []
    return _normalize_message_id(values, digest)


def _ids(value: str) -> list[str]:
    """Every <message-id> in a header, whitespace inside the brackets dropped (folded headers)."""
    return [f"<{inner.strip()}>" for inner in _ANGLE_ID.findall(value) if inner.strip()]


def _raw_body(raw: bytes) -> bytes:
    """The bytes after the header block (bounces quote the returned message's headers there)."""
    match = _BLANK_LINE.search(raw)
    return raw[match.end() :] if match else b""


def _defects(msg: Message) -> list[str]:
    """The parser's defect classes, once each: a record of why a message looked odd."""
    names = [
        type(defect).__name__
        for part in msg.walk()
        for defect in getattr(part, "defects", [])
    ]
    return list(dict.fromkeys(names))


def _read(raw: bytes, settings: Settings) -> tuple[Message, Body]:
    """The MIME tree and its text; when the tree cannot be read, the headers and the raw body."""
    try:
        msg = parse_bytes(raw)
        return msg, extract_body(msg, settings.attachment_store_limit)
    except Exception as exc:  # noqa: BLE001 - e.g. RecursionError in the stdlib parser on deep nesting
        msg = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
        note = (
            f"MIME structure unreadable ({type(exc).__name__}); body kept as raw text"
        )
        text = clean_text(decode_bytes(_raw_body(raw), None)[0]).replace("\r\n", "\n")
        return msg, Body(text=text, notes=[note])


def _parse(raw: bytes, digest: str, settings: Settings) -> ParsedMessage:
    """`parse_message` without the last-resort guard; the order of kinds is the module's."""
    msg, body = _read(raw, settings)
    index = header_index(msg)
    headers: dict[str, str] = {}
    addresses: dict[str, list[tuple[str, str]]] = {}
    for name in KEPT_HEADERS:
        values = index.get(name.lower())
        if not values:
            continue
        if name in ADDRESS_HEADERS:
            headers[name], addresses[name] = decode_address_header(name, values[0])
        else:
            headers[name] = decode_header_value(name, values[0])
    sender = next(iter(addresses.get("From", [])), ("", ""))
    reply_to = next((addr for _, addr in addresses.get("Reply-To", [])), "")
    parsed = ParsedMessage(
        message_id=_normalize_message_id(index.get("message-id", []), digest),
        content_hash=digest,
        headers=headers,
        from_name=sender[0],
        from_addr=sender[1],
        to_addr=next((addr for _, addr in addresses.get("To", [])), ""),
        subject=headers.get("Subject", ""),
        date=parse_date(index["date"][0]) if "date" in index else None,
        text=body.text,
        in_reply_to=next(iter(_ids(headers.get("In-Reply-To", ""))), ""),
        references=list(dict.fromkeys(reversed(_ids(headers.get("References", ""))))),
        attachments=body.attachments,
        defects=(body.notes + _defects(msg))[:DEFECT_LIMIT],
    )
    verdict = classify_automatic(
        msg, headers, parsed.from_addr, parsed.subject, body.text, _raw_body(raw)
    )
    notice = None
    if is_trusted_sender(
        parsed.from_addr,
        headers.get("Authentication-Results", ""),
        settings.outage_senders,
        settings.outage_require_auth,
        settings.our_domain,
    ):
        notice = parse_outage(parsed.subject, body.text)
        if notice is None:
            parsed.defects.append(
                "outage broadcast without an Outage ID: left as ordinary mail"
            )
    labels = form_labels(settings.form_labels)
    fields = (
        read_form(body.text, body.html, labels)
        if parsed.from_addr.lower() == settings.webform_address.lower()
        or subject_topic(parsed.subject)
        else {}
    )
    if verdict is not None and verdict.kind == "bounce":
        parsed.kind, parsed.auto_reason, parsed.bounce = (
            "bounce",
            verdict.reason,
            verdict.bounce,
        )
    elif notice is not None:
        parsed.kind, parsed.outage = "outage_broadcast", notice
    elif is_webform(parsed.from_addr, parsed.subject, settings.webform_address, fields, labels):
        parsed.kind, parsed.form_fields = "webform", fields
        parsed.topic = fields.get("Topic") or subject_topic(parsed.subject) or None
        parsed.preferred_lang = preferred_language(fields.get("Preferred Language", ""))
    elif verdict is not None:
        parsed.kind, parsed.auto_reason = verdict.kind, verdict.reason
    form_email = parsed.form_fields.get("Email", "").strip()
    parsed.reply_to = (
        reply_to or (form_email if _EMAIL.match(form_email) else "") or parsed.from_addr
    )
    if parsed.kind == "webform" and "Message" in fields:
        parsed.new_text = fields["Message"]
    elif parsed.kind == "outage_broadcast":
        parsed.new_text = body.text
    else:
        parsed.new_text = extract_new_text(body.text)
    return parsed


def parse_message(raw: bytes, settings: Settings) -> ParsedMessage:
    """Understand one raw message; never raises (see the module docstring)."""
    raw = bytes(raw)
    digest = hashlib.sha256(raw).hexdigest()
    try:
        return _parse(raw, digest, settings)
    except Exception as exc:  # noqa: BLE001 - the record must exist whatever the input
        text = decode_bytes(raw, None)[0].replace("\x00", "")
        return ParsedMessage(
            message_id=message_id_of(raw),
            content_hash=digest,
            text=text,
            new_text=text,
            defects=[f"unparseable: {type(exc).__name__}: {exc}"[:500]],
        )
