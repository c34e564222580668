"""Mail that no person wrote: auto-replies, list and bulk mail, bounces and other reports.

SPEC 5: such mail is never answered (an auto-reply to an auto-reply is a mail loop) but is
stored and counted, and a bounce of one of our replies marks that reply bounced, so the
bounce's recipients, DSN status and the Message-ID of the bounced message are pulled out.

Bounces come in two shapes: RFC 3464 delivery-status reports (read here directly) and the
free-text notices of older or proprietary servers (read with flufl.bounce's detectors).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import HeaderParser

from flufl.bounce import all_failures

from ingest.mime import decode_bytes

#: Details of DSN status 5.1.x that are about something other than the recipient's address:
#: 5.1.4 ambiguous, 5.1.5 address valid, 5.1.7/5.1.8 our sender address, 5.1.9 relay.
NOT_RECIPIENT_ADDRESS_DETAILS = frozenset({"4", "5", "7", "8", "9"})
#: 5.4.4 "unable to route": the recipient's domain has no mail server.
NO_ROUTE_STATUS = "5.4.4"

_DAEMON_SENDER = re.compile(r"\b(mailer-daemon|post_?master)\b", re.IGNORECASE)
_REPORT_TYPES = ("message/delivery-status", "message/global-delivery-status")
_HEADER_TYPES = (
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global-headers",
)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_MESSAGE_ID_LINE = re.compile(
    rb"^[ \t>]*Message-ID:[ \t]*(<[^<>\s]{1,500}>)", re.IGNORECASE | re.MULTILINE
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|returned mail|mail delivery (?:failed|failure|subsystem)|failure notice"
    r"|delivery (?:status notification|failure|failed|has failed|problem|notification)|failed delivery"
    r"|failure delivery|could not be delivered|mail system error|returning message to sender"
    r"|permanent delivery failure|nondeliverable|non-deliverable|error sending your mail|non remis"
    r"|unzustellbar|no se pudo entregar|no entregado|delayed mail|message delayed|delivery delayed",
    re.IGNORECASE,
)
# The same words, case-sensitive, for lower-cased text (see _has_bounce_words).
_BOUNCE_WORDS_LOWER = re.compile(_BOUNCE_SUBJECT.pattern)
# Every alternative of _BOUNCE_SUBJECT holds one of these (tests/test_automatic.py checks).
_BOUNCE_KEYWORDS = (
    "deliver",
    "returned mail",
    "failure notice",
    "mail system error",
    "returning message",
    "error sending",
    "non remis",
    "unzustellbar",
    "entrega",
    "delayed",
)
# The only characters that re.IGNORECASE matches to an ASCII letter although str.lower()
# does not make them that letter: "İ" and "ı" (i), "ſ" (s); tests/test_automatic.py checks.
_IGNORECASE_ONLY_ASCII = re.compile("[\u0130\u0131\u017f]")
# Only the fixed prefixes that mail clients put before a colon: a customer's own subject
# ("Absence of water pressure", "On vacation, stop service") must never look automatic.
_AUTOREPLY_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto[- ]?reply|auto[- ]?response|autorespons|out of (?:the )?office"
    r"|respuesta autom[aá]tica|r[ée]ponse automatique|abwesenheitsnotiz|automatische antwort)\s*:",
    re.IGNORECASE,
)
_BAD_ADDRESS_TEXT = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|address|domain)|recipient unknown"
    r"|unknown recipient|(?:mailbox|account|address|user|recipient)[^.\n]{0,40}(?:does not|doesn't|did not) exist"
    r"|(?:mailbox|address|user|recipient) not found|invalid (?:final delivery )?(?:mailbox|recipient|address|userid)"
    r"|not a valid (?:mailbox|user|recipient)|no valid recipients|not listed in"
    r"|(?:unknown|bad) host|host (?:not found|unknown)|(?:domain|domain name) (?:not found|does not exist)"
    r"|no mx record|dns lookup failure|unrouteable address|no mailbox here|bad destination mailbox|has moved"
    r"|is no longer (?:valid|active)|recipient address rejected: access denied",
    re.IGNORECASE,
)
_PASSING_TROUBLE_TEXT = re.compile(
    r"mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the )?(?:storage|quota)|insufficient (?:system )?storage"
    r"|too many (?:connections|messages|recipients)|rate limit|try (?:again )?later|temporar",
    re.IGNORECASE,
)
# Where a bounce's own prose ends and the returned message (our reply, quoted) begins.
_RETURNED_MESSAGE = re.compile(
    r"^\s*(?:received|return-path|message-id|dkim-signature|mime-version):"
    r"|^.{0,40}(?:copy of the (?:original )?message|original message|headers? follow|returned message|undelivered message)",
    re.IGNORECASE | re.MULTILINE,
)
_FAILURE_ACTIONS = ("failed", "delayed")
_SUCCESS_ACTIONS = ("deliver", "relayed", "expanded")
_ROLE_SENDER = re.compile(
    r"^(?:no-?reply|do-?not-?reply|mailer-daemon|post_?master)@", re.IGNORECASE
)

# flufl.bounce logs a traceback when one of its detectors trips on odd mail; that is
# handled here, so without an application handler it must not reach stderr as "last resort".
logging.getLogger("flufl.bounce").addHandler(logging.NullHandler())


@dataclass
class BounceInfo:
    """What a bounce says: which of our messages failed, for whom, and whether to stop mailing them."""

    original_message_ids: list[str]
    recipients: list[str]
    hard: bool
    status: str


@dataclass
class Verdict:
    """Why a message is automatic, and its bounce details when it is a bounce."""

    kind: str
    reason: str
    bounce: BounceInfo | None = None


@dataclass
class _Report:
    """Per-recipient lines of RFC 3464 delivery-status parts."""

    recipients: list[str]
    actions: list[str]
    statuses: list[str]
    diagnostics: str


def _blocks(part: Message) -> list[Message]:
    """The field blocks of a delivery-status part, parsed by the stdlib or by hand."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    raw = part.get_payload(decode=True)
    text = decode_bytes(raw, "utf-8")[0] if isinstance(raw, bytes) else str(payload)
    parser = HeaderParser(policy=policy.compat32)
    return [
        parser.parsestr(chunk.strip() + "\n")
        for chunk in re.split(r"\r?\n[ \t]*\r?\n", text)
        if chunk.strip()
    ]


def _field(block: Message, name: str) -> str:
    """One DSN field, unfolded; "" when absent."""
    value = block.get(name)
    return re.sub(r"\s+", " ", str(value)).strip() if value is not None else ""


def _address(value: str) -> str:
    """ "rfc822; <User@Example.com>" -> "User@Example.com"."""
    return value.split(";", 1)[-1].strip().strip("<>").strip()


def _delivery_report(msg: Message) -> _Report | None:
    """The recipients, actions and statuses of a DSN; None when the message has no DSN part."""
    report: _Report | None = None
    for part in msg.walk():
        if part.get_content_type() not in _REPORT_TYPES:
            continue
        report = report or _Report([], [], [], "")
        for block in _blocks(part):
            recipient = _address(
                _field(block, "Final-Recipient") or _field(block, "Original-Recipient")
            )
            action = _field(block, "Action").lower()
            status = _STATUS.search(_field(block, "Status"))
            if not (recipient or action):
                continue
            if recipient and recipient not in report.recipients:
                report.recipients.append(recipient)
            report.actions.append(action)
            report.statuses.append(status.group(0) if status else "")
            report.diagnostics += " " + _field(block, "Diagnostic-Code")
    return report


def _original_message_ids(msg: Message, raw_body: bytes) -> list[str]:
    """Message-IDs of the returned message: from its attached copy or headers, else from the text."""
    found: list[str] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                found.append(str(inner[0].get("Message-ID", "")))
        elif ctype in _HEADER_TYPES:
            data = part.get_payload(decode=True)
            text = (
                decode_bytes(data, None)[0]
                if isinstance(data, bytes)
                else str(part.get_payload())
            )
            found.append(
                str(
                    HeaderParser(policy=policy.compat32)
                    .parsestr(text.lstrip())
                    .get("Message-ID", "")
                )
            )
    found += [
        match.decode("ascii", "replace") for match in _MESSAGE_ID_LINE.findall(raw_body)
    ]
    ids: list[str] = []
    for value in found:
        match = re.search(r"<[^<>\s]+>", value)
        if match and match.group(0) not in ids:
            ids.append(match.group(0))
    return ids


def _flufl_recipients(msg: Message) -> list[str]:
    """Failed recipients found by flufl.bounce's detectors for free-text bounce notices."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001 - a detector tripping on odd mail must not stop ingest
        return []
    addresses = {
        a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a)
        for a in temporary | permanent
    }
    return sorted(a.strip("<>") for a in addresses if "@" in a)


def _status_from_text(text: str) -> str:
    """An enhanced status code quoted in a bounce's prose ("550 5.1.1 <x@y>: user unknown")."""
    codes = [
        match.group(0)
        for match in _STATUS.finditer(text[:20_000])
        if match.group(1) in "45"
    ]
    return next(
        (code for code in codes if code.startswith("5")), codes[0] if codes else ""
    )


def _notice(text: str) -> str:
    """A bounce's own prose, without the returned message that often follows it inline."""
    text = text[:20_000]
    end = _RETURNED_MESSAGE.search(text)
    return text[: end.start()] if end else text


def _is_hard(status: str, diagnostic: str) -> bool:
    """A hard bounce: the address itself is bad, so mailing it again cannot work.

    Not every 5.x.x is hard in this sense: a full mailbox (5.2.2), a spam or policy block
    (5.7.x) or a size limit (5.3.4) may clear up, and suppressing the customer for 60 days
    would silence a working address. Servers often give a generic or wrong code, so what
    the diagnostic says ("mailbox full", "user unknown") outweighs the code.
    """
    if _PASSING_TROUBLE_TEXT.search(diagnostic):
        return False
    klass, subject, detail = (status.split(".") + ["", "", ""])[:3]
    if status == NO_ROUTE_STATUS or (
        klass == "5" and subject == "1" and detail not in NOT_RECIPIENT_ADDRESS_DETAILS
    ):
        return True
    return bool(_BAD_ADDRESS_TEXT.search(diagnostic))


def _bounce(
    msg: Message, report: _Report | None, text: str, raw_body: bytes
) -> BounceInfo:
    """Bounce details from the DSN when there is one, else from flufl.bounce and the prose."""
    recipients: list[str] = []
    status = ""
    detail = _notice(text)
    if report is not None:
        failed = [
            s
            for a, s in zip(report.actions, report.statuses)
            if a in _FAILURE_ACTIONS or not a
        ]
        status = next(
            (s for s in failed if s.startswith("5")), next((s for s in failed if s), "")
        )
        recipients = list(report.recipients)
        detail = f"{report.diagnostics}\n{detail}"
    if not recipients:
        recipients = _flufl_recipients(msg)
    status = status or _status_from_text(detail)
    return BounceInfo(
        original_message_ids=_original_message_ids(msg, raw_body),
        recipients=recipients,
        hard=_is_hard(status, detail),
        status=status,
    )


def _has_bounce_words(text: str) -> bool:
    """Whether `_BOUNCE_SUBJECT` matches somewhere in `text`.

    Every message's subject and text (up to 3,000 characters) are searched, and the
    case-insensitive search, which tries every alternative at every character, cost more
    than any other step of parsing customers' mail. Lower-cased text has the lower-case
    words exactly where the original has them in any case, unless it holds a character
    that only re.IGNORECASE's rules match; so the quick case-sensitive search gives the
    same answer, after a quicker test for words that every alternative contains.
    """
    if not text.isascii() and _IGNORECASE_ONLY_ASCII.search(text):
        return _BOUNCE_SUBJECT.search(text) is not None
    lowered = text.lower()
    return (
        any(word in lowered for word in _BOUNCE_KEYWORDS)
        and _BOUNCE_WORDS_LOWER.search(lowered) is not None
    )


def _daemon_reason(from_header: str) -> str | None:
    """Mail system senders (MAILER-DAEMON, postmaster) only ever send reports.

    The whole From header is read, not just the address: "MAILER-DAEMON <>" has none.
    """
    match = _DAEMON_SENDER.search(from_header)
    if match is None:
        return None
    return (
        "MAILER-DAEMON sender"
        if match.group(1).lower() == "mailer-daemon"
        else "postmaster sender"
    )


def header_reason(headers: dict[str, str], subject: str) -> str | None:
    """Why the headers alone say "automatic" (RFC 3834 and common practice); None for a person."""
    value = headers.get("Auto-Submitted", "").split(";")[0].strip().lower()
    if value and value != "no":
        return f"Auto-Submitted: {value}"
    if headers.get("X-Autoreply", "").strip().lower() not in ("", "no"):
        return "X-Autoreply"
    precedence = headers.get("Precedence", "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    if headers.get("X-Loop"):
        return "X-Loop"
    if headers.get("List-Id"):
        return "List-Id (mailing list)"
    if headers.get("List-Unsubscribe"):
        return "List-Unsubscribe (bulk mail)"
    if (
        "Return-Path" in headers
        and headers["Return-Path"].strip().strip("<>").strip() == ""
    ):
        return "empty Return-Path"
    daemon = _daemon_reason(headers.get("From", ""))
    if daemon:
        return daemon
    if _AUTOREPLY_SUBJECT.match(subject):
        return "auto-reply subject"
    return None


def _report_type(msg: Message) -> str:
    """The report-type of a multipart/report ("delivery-status", "feedback-report", ...)."""
    if msg.get_content_type() != "multipart/report":
        return ""
    try:
        return str(msg.get_param("report-type") or "").lower()
    except Exception:  # noqa: BLE001 - a broken parameter is just an unknown report type
        return ""


def classify_automatic(
    msg: Message,
    headers: dict[str, str],
    from_addr: str,
    subject: str,
    text: str,
    raw_body: bytes,
) -> Verdict | None:
    """Decide whether a message is a bounce, other automatic mail, or (None) written by a person."""
    report = _delivery_report(msg)
    reason = header_reason(headers, subject)
    report_type = _report_type(msg)
    if report is not None:
        if report.actions and all(
            action.startswith(_SUCCESS_ACTIONS)
            or (not action and status.startswith("2."))
            for action, status in zip(report.actions, report.statuses)
        ):
            return Verdict("auto", "delivery-status report (delivered)")
        return Verdict(
            "bounce", "delivery-status report", _bounce(msg, report, text, raw_body)
        )
    if report_type == "feedback-report":
        return Verdict("auto", "abuse feedback report (ARF)")
    if report_type == "disposition-notification":
        return Verdict("auto", "disposition notification (read receipt)")
    bounce_words = _has_bounce_words(subject) or _has_bounce_words(text[:3000])
    if _daemon_reason(headers.get("From", "")) or (
        bounce_words
        and (
            reason is not None
            or _ROLE_SENDER.match(from_addr)
            or _flufl_recipients(msg)
        )
    ):
        return Verdict(
            "bounce", reason or "bounce notice", _bounce(msg, None, text, raw_body)
        )
    return Verdict("auto", reason) if reason is not None else None
