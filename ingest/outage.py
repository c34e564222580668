"""Outage broadcasts from the outage desk (SPEC 3.4): who may send them, and what they say.

A broadcast changes what customers are told about their outage, so it is accepted only
from an allow-listed sender whose mail passed the receiving server's authentication;
anything else that merely looks like a broadcast is ordinary mail. The body's fields come
in any order with free text around them; the subject fills what the body leaves out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Body label (lower case) -> OutageNotice field.
LABELS: dict[str, str] = {
    "outage id": "outage_ref",
    "outage number": "outage_ref",
    "outage #": "outage_ref",
    "incident id": "outage_ref",
    "service": "service",
    "service type": "service",
    "status": "status",
    "areas": "areas",
    "area": "areas",
    "affected areas": "areas",
    "communities": "areas",
    "zip codes": "zips",
    "zip code": "zips",
    "zips": "zips",
    "zip": "zips",
    "customers affected": "customers_affected",
    "affected customers": "customers_affected",
    "cause": "cause",
    "started": "started",
    "start time": "started",
    "start": "started",
    "estimated restoration": "estimated_restoration",
    "estimated restoration time": "estimated_restoration",
    "etr": "estimated_restoration",
}
SERVICES = {
    "electric": "Electric",
    "electrical": "Electric",
    "electricity": "Electric",
    "power": "Electric",
    "water": "Water",
}
STATUSES = {
    "active": "Active",
    "new": "Active",
    "update": "Update",
    "updated": "Update",
    "restored": "Restored",
    "resolved": "Restored",
    "closed": "Restored",
}

_FIELD_LINE = re.compile(
    r"^\s*[*_]*(?P<label>"
    + "|".join(sorted(map(re.escape, LABELS), key=len, reverse=True))
    + r")[*_]*\s*:\s*(?P<value>.*)$",
    re.IGNORECASE | re.MULTILINE,
)
# The desk's ids look like OUT-261123-07; in free text only that shape is trusted, while the
# Outage ID field may hold any single id-like token (with a digit), in case the desk's format changes.
_OUTAGE_REF = re.compile(r"\bOUT-\d{6}-\d{1,4}\b", re.IGNORECASE)
_ID_TOKEN = re.compile(r"^(?=.*\d)[A-Za-z0-9][\w-]{2,40}$")
_SUBJECT_TAG = re.compile(r"\[\s*OUTAGE\s*\]", re.IGNORECASE)
_ZIP = re.compile(r"\b\d{5}\b")
_AUTH_METHOD = re.compile(r"\b(dmarc|spf)\s*=\s*(\w+)(?P<props>[^;]*)", re.IGNORECASE)
_AUTH_PROPERTY = re.compile(r"([\w.-]+)=(\S+)")


@dataclass
class OutageNotice:
    """One broadcast about one outage: a new outage, an update to it, or its restoration."""

    outage_ref: str
    service: str = ""
    status: str = "Active"
    areas: list[str] = field(default_factory=list)
    zips: list[str] = field(default_factory=list)
    customers_affected: int | None = None
    cause: str = ""
    started: str = ""
    estimated_restoration: str = ""


def passes_authentication(results: str, from_addr: str, our_domain: str) -> bool:
    """dmarc=pass for the From domain, or spf=pass for our own domain, in the receiver's verdict.

    `results` is the topmost Authentication-Results header: the one our own receiving
    server added. Lower ones travel with the message and a forger can write them.
    """
    from_domain = from_addr.rsplit("@", 1)[-1].lower()
    for match in _AUTH_METHOD.finditer(results):
        method, result = match.group(1).lower(), match.group(2).lower()
        props = {
            key.lower(): value.lower().strip('"')
            for key, value in _AUTH_PROPERTY.findall(match.group("props"))
        }
        if result != "pass":
            continue
        if method == "dmarc" and props.get("header.from", from_domain) == from_domain:
            return True
        spf_domain = (
            props.get("smtp.mailfrom") or props.get("smtp.helo") or ""
        ).rsplit("@", 1)[-1]
        if method == "spf" and spf_domain == our_domain:
            return True
    return False


def is_trusted_sender(
    from_addr: str,
    auth_results: str,
    senders: list[str],
    require_auth: bool,
    our_domain: str,
) -> bool:
    """Allow-listed and (when required) authenticated: only then is a broadcast believed."""
    if from_addr.lower() not in {sender.lower() for sender in senders}:
        return False
    return not require_auth or passes_authentication(
        auth_results, from_addr, our_domain
    )


def _customers(value: str) -> int | None:
    """ "3,450" or "approx. 3450 customers" -> 3450; None when no number is given."""
    digits = re.search(r"\d[\d,.\s]*", value)
    if not digits:
        return None
    number = re.sub(r"[,.\s]", "", digits.group(0))
    return int(number) if number.isdigit() else None


def _vocabulary(value: str, words: dict[str, str]) -> str:
    """The canonical word for the first word of a field ("Water (main break)" -> "Water"); "" if none."""
    first = (
        re.split(r"[^\w]+", value.strip().lower(), maxsplit=1)[0]
        if value.strip()
        else ""
    )
    return words.get(first, "")


def _subject_parts(subject: str) -> dict[str, str]:
    """Fields from `[OUTAGE] ELECTRIC - ACTIVE - OUT-261123-07 - Van Nuys`, in any order."""
    tag = _SUBJECT_TAG.search(subject)
    if not tag:
        return {}
    found: dict[str, str] = {}
    areas: list[str] = []
    for part in re.split(r"\s+[-–|]\s+", subject[tag.end() :].strip(" -–|")):
        word = part.strip().lower()
        if word in SERVICES and "service" not in found:
            found["service"] = SERVICES[word]
        elif word in STATUSES and "status" not in found:
            found["status"] = STATUSES[word]
        elif _OUTAGE_REF.fullmatch(part.strip()):
            found["outage_ref"] = part.strip().upper()
        elif part.strip():
            areas.append(part.strip())
    if areas:
        found["areas"] = ", ".join(areas)
    return found


def parse_outage(subject: str, text: str) -> OutageNotice | None:
    """The notice in a broadcast's body and subject; None when no outage ID can be found.

    Without an ID an update cannot be matched to its outage, so such mail is left for a
    person rather than guessed at.
    """
    values: dict[str, str] = {}
    for match in _FIELD_LINE.finditer(text):
        value = match.group("value").strip()
        if value:
            values.setdefault(LABELS[match.group("label").lower()], value)
    from_subject = _subject_parts(subject)
    field_ref = values.get("outage_ref", "").split(" ")[0].strip(".,;")
    found = _OUTAGE_REF.search(subject) or _OUTAGE_REF.search(text)
    ref = field_ref if _ID_TOKEN.match(field_ref) else (found.group(0) if found else "")
    if not ref:
        return None
    service = _vocabulary(values.get("service", ""), SERVICES) or from_subject.get(
        "service", ""
    )
    status = _vocabulary(values.get("status", ""), STATUSES) or from_subject.get(
        "status", "Active"
    )
    return OutageNotice(
        outage_ref=ref.upper(),
        service=service,
        status=status,
        areas=[
            a.strip()
            for a in re.split(
                r"[,;/]", values.get("areas") or from_subject.get("areas", "")
            )
            if a.strip()
        ],
        zips=list(dict.fromkeys(_ZIP.findall(values.get("zips", "")))),
        customers_affected=_customers(values.get("customers_affected", "")),
        cause=values.get("cause", ""),
        started=values.get("started", ""),
        estimated_restoration=values.get("estimated_restoration", ""),
    )
