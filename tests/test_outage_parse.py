"""Outage broadcasts: who is believed, and what is read from body and subject."""

from __future__ import annotations

from eteam.settings import Settings
from ingest.outage import OutageNotice, parse_outage, passes_authentication
from ingest.parse import parse_message

SETTINGS = Settings()
PASS = "mx.ladwp.example; spf=pass smtp.mailfrom=outage-desk@ladwp.example; dkim=pass header.d=ladwp.example; dmarc=pass header.from=ladwp.example"

BODY = """\
Team,

We have a new outage affecting the Valley. Details below.

Customers Affected: 3,450
Status: Active
ZIP Codes: 91401, 91405, 91411
Outage ID: OUT-261123-07
Cause: Equipment failure
Service: Electric
Areas: Van Nuys, Sherman Oaks
Estimated Restoration: 2026-11-23 20:00
Started: 2026-11-23 14:05

Crews are on site. -- Outage Desk
"""


def broadcast(
    auth: str | None = PASS,
    sender: str = "outage-desk@ladwp.example",
    subject: str = "[OUTAGE] ELECTRIC - ACTIVE - OUT-261123-07 - Van Nuys",
    body: str = BODY,
) -> bytes:
    """A raw broadcast; `auth` is the receiving server's Authentication-Results (None: absent)."""
    lines = [f"Authentication-Results: {auth}"] if auth is not None else []
    lines += [
        f"From: Outage Desk <{sender}>",
        f"Subject: {subject}",
        "Message-ID: <b1@ladwp.example>",
    ]
    return ("\n".join(lines) + "\n\n" + body).encode()


def test_trusted_broadcast_with_fields_in_any_order() -> None:
    parsed = parse_message(broadcast(), SETTINGS)
    assert parsed.kind == "outage_broadcast"
    assert parsed.outage == OutageNotice(
        outage_ref="OUT-261123-07",
        service="Electric",
        status="Active",
        areas=["Van Nuys", "Sherman Oaks"],
        zips=["91401", "91405", "91411"],
        customers_affected=3450,
        cause="Equipment failure",
        started="2026-11-23 14:05",
        estimated_restoration="2026-11-23 20:00",
    )
    assert parsed.bounce is None and parsed.auto_reason is None


def test_subject_fills_what_the_body_leaves_out() -> None:
    body = "Update: crews found the cause.\nCause: Tree on line\nEstimated Restoration: 21:30\n"
    subject = "[OUTAGE] WATER - UPDATE - OUT-261123-09 - Encino - Tarzana"
    parsed = parse_message(broadcast(subject=subject, body=body), SETTINGS)
    notice = parsed.outage
    assert notice is not None
    assert (notice.outage_ref, notice.service, notice.status) == (
        "OUT-261123-09",
        "Water",
        "Update",
    )
    assert notice.areas == ["Encino", "Tarzana"] and notice.cause == "Tree on line"
    assert notice.customers_affected is None and notice.zips == []


def test_restored_notice() -> None:
    notice = parse_outage(
        "[OUTAGE] ELECTRIC - RESTORED - OUT-261123-07",
        "Status: Restored\nAll customers restored.",
    )
    assert (
        notice is not None
        and notice.status == "Restored"
        and notice.service == "Electric"
    )


def test_spoofed_sender_is_ordinary_mail() -> None:
    parsed = parse_message(broadcast(sender="outage-desk@evil.example"), SETTINGS)
    assert parsed.kind == "customer" and parsed.outage is None


def test_failed_or_missing_authentication_is_ordinary_mail() -> None:
    failing = "mx.ladwp.example; spf=fail smtp.mailfrom=evil.example; dmarc=fail header.from=ladwp.example"
    assert parse_message(broadcast(auth=failing), SETTINGS).kind == "customer"
    assert parse_message(broadcast(auth=None), SETTINGS).kind == "customer"


def test_only_the_topmost_authentication_results_counts() -> None:
    forged_below = (
        "Authentication-Results: mx.ladwp.example; dmarc=fail header.from=ladwp.example\n"
        f"Authentication-Results: {PASS}\n"
        "From: outage-desk@ladwp.example\nSubject: [OUTAGE] ELECTRIC - ACTIVE - OUT-261123-07\n\n"
        + BODY
    )
    assert parse_message(forged_below.encode(), SETTINGS).kind == "customer"


def test_authentication_rules() -> None:
    sender = "outage-desk@ladwp.example"
    assert passes_authentication(
        "mx; dmarc=pass header.from=ladwp.example", sender, "ladwp.example"
    )
    assert not passes_authentication(
        "mx; dmarc=pass header.from=evil.example", sender, "ladwp.example"
    )
    assert not passes_authentication(
        "mx; dmarc=pass header.from=ladwp.example.evil.example", sender, "ladwp.example"
    )
    assert passes_authentication(
        "mx; spf=pass smtp.mailfrom=ladwp.example", sender, "ladwp.example"
    )
    assert not passes_authentication(
        "mx; spf=pass smtp.mailfrom=bounce@evil.example", sender, "ladwp.example"
    )
    assert not passes_authentication(
        "mx; spf=pass smtp.mailfrom=ladwp.example.evil.example", sender, "ladwp.example"
    )
    assert not passes_authentication("", sender, "ladwp.example")


def test_authentication_not_required_by_setting() -> None:
    relaxed = Settings(outage_require_auth=False)
    assert parse_message(broadcast(auth=None), relaxed).kind == "outage_broadcast"


def test_broadcast_without_an_id_is_left_for_a_person() -> None:
    parsed = parse_message(
        broadcast(
            subject="[OUTAGE] outage in the Valley", body="Power out in Encino.\n"
        ),
        SETTINGS,
    )
    assert parsed.kind == "customer" and parsed.outage is None
    assert any("Outage ID" in defect for defect in parsed.defects)


def test_automatic_headers_do_not_hide_a_trusted_broadcast() -> None:
    raw = broadcast().replace(
        b"Message-ID:", b"Auto-Submitted: auto-generated\nPrecedence: bulk\nMessage-ID:"
    )
    assert parse_message(raw, SETTINGS).kind == "outage_broadcast"


def test_outage_id_field_may_use_another_format() -> None:
    notice = parse_outage(
        "Outage update", "Outage ID: WTR-2026-0042\nService: Water\nStatus: Update"
    )
    assert notice is not None and notice.outage_ref == "WTR-2026-0042"
    assert parse_outage("Outage", "Outage ID: see subject") is None


def test_unknown_service_word_falls_back_to_subject() -> None:
    notice = parse_outage(
        "[OUTAGE] WATER - ACTIVE - OUT-261123-10",
        "Service: see below\nOutage ID: OUT-261123-10",
    )
    assert (
        notice is not None and notice.service == "Water" and notice.status == "Active"
    )
