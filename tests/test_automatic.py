"""Automatic mail: auto-replies and bulk mail (kind "auto") and bounces (kind "bounce")."""

from __future__ import annotations

import re

import pytest

from eteam.settings import Settings
from ingest.automatic import (
    _BOUNCE_KEYWORDS,
    _BOUNCE_SUBJECT,
    _IGNORECASE_ONLY_ASCII,
    _has_bounce_words,
)
from ingest.parse import parse_message
from tests.unicode_case import ignorecase_only

SETTINGS = Settings()


def mail(headers: str, body: str = "Hello.\n") -> bytes:
    """A raw message from header lines and a body."""
    return (headers.strip() + "\n\n" + body).encode()


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        (
            "Auto-Submitted: auto-generated; owner-email=x@y.example",
            "Auto-Submitted: auto-generated",
        ),
        ("Precedence: bulk", "Precedence: bulk"),
        ("Precedence: junk", "Precedence: junk"),
        ("Precedence: list", "Precedence: list"),
        ("List-Id: <news.example.com>", "List-Id (mailing list)"),
        (
            "List-Unsubscribe: <mailto:unsub@example.com>",
            "List-Unsubscribe (bulk mail)",
        ),
        ("X-Autoreply: yes", "X-Autoreply"),
        ("X-Loop: helpdesk@example.com", "X-Loop"),
        ("Return-Path: <>", "empty Return-Path"),
    ],
)
def test_automatic_headers(header: str, reason: str) -> None:
    parsed = parse_message(
        mail(f"From: someone@example.com\nSubject: Re: your bill\n{header}"), SETTINGS
    )
    assert (parsed.kind, parsed.auto_reason) == ("auto", reason)


def test_out_of_office_reply() -> None:
    raw = mail(
        "From: Maria <maria@example.com>\nSubject: Automatic reply: Your LADWP request\nAuto-Submitted: auto-replied",
        "I am out of the office until Monday.\n",
    )
    parsed = parse_message(raw, SETTINGS)
    assert (
        parsed.kind == "auto" and parsed.auto_reason == "Auto-Submitted: auto-replied"
    )
    assert parsed.bounce is None


def test_out_of_office_known_only_by_its_subject() -> None:
    parsed = parse_message(
        mail("From: maria@example.com\nSubject: Out of Office: Re: bill"), SETTINGS
    )
    assert (parsed.kind, parsed.auto_reason) == ("auto", "auto-reply subject")


def test_customer_subjects_that_start_like_auto_replies_are_customers() -> None:
    for subject in (
        "Absence of water pressure",
        "On vacation, please stop service",
        "Out of office hours outage",
    ):
        parsed = parse_message(
            mail(f"From: maria@example.com\nSubject: {subject}"), SETTINGS
        )
        assert parsed.kind == "customer", subject


def test_auto_submitted_no_is_a_person() -> None:
    parsed = parse_message(
        mail("From: maria@example.com\nSubject: bill\nAuto-Submitted: no"), SETTINGS
    )
    assert parsed.kind == "customer" and parsed.auto_reason is None


def test_return_path_of_a_person_is_not_automatic() -> None:
    parsed = parse_message(
        mail(
            "Return-Path: <maria@example.com>\nFrom: maria@example.com\nSubject: bill"
        ),
        SETTINGS,
    )
    assert parsed.kind == "customer"


DSN = """\
Return-Path: <>
From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: contactus@ladwp.example
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-1@mx.example.com>
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--B
Content-Type: message/rfc822

From: LADWP Customer Service <contactus@ladwp.example>
To: {recipient}
Subject: Re: High bill [SR 261123-000042]
Message-ID: <reply-42@ladwp.example>

Thank you for writing.
--B--
"""


def dsn(
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "550 5.1.1 User unknown",
) -> bytes:
    """A delivery-status report about our reply to maria@example.com."""
    return DSN.format(
        recipient="maria@example.com",
        action=action,
        status=status,
        diagnostic=diagnostic,
    ).encode()


def test_hard_bounce_delivery_status_report() -> None:
    parsed = parse_message(dsn(), SETTINGS)
    assert parsed.kind == "bounce" and parsed.auto_reason == "delivery-status report"
    bounce = parsed.bounce
    assert bounce is not None
    assert bounce.original_message_ids == ["<reply-42@ladwp.example>"]
    assert bounce.recipients == ["maria@example.com"]
    assert (bounce.hard, bounce.status) == (True, "5.1.1")


def test_mailbox_full_is_a_soft_bounce_even_with_a_5xx() -> None:
    bounce = parse_message(
        dsn(status="5.2.2", diagnostic="552 5.2.2 Mailbox full"), SETTINGS
    ).bounce
    assert bounce is not None and (bounce.hard, bounce.status) == (False, "5.2.2")


def test_delayed_delivery_is_a_soft_bounce() -> None:
    parsed = parse_message(
        dsn(action="delayed", status="4.4.1", diagnostic="connection timed out"),
        SETTINGS,
    )
    assert (
        parsed.kind == "bounce" and parsed.bounce is not None and not parsed.bounce.hard
    )


def test_generic_status_is_judged_by_the_diagnostic() -> None:
    bounce = parse_message(
        dsn(status="5.0.0", diagnostic="550 No such user here"), SETTINGS
    ).bounce
    assert bounce is not None and bounce.hard


def test_successful_delivery_report_is_automatic_not_a_bounce() -> None:
    parsed = parse_message(
        dsn(action="delivered", status="2.0.0", diagnostic="250 OK"), SETTINGS
    )
    assert (parsed.kind, parsed.auto_reason, parsed.bounce) == (
        "auto",
        "delivery-status report (delivered)",
        None,
    )


def test_bounce_with_returned_headers_only() -> None:
    raw = DSN.replace(
        "Content-Type: message/rfc822", "Content-Type: text/rfc822-headers"
    ).format(
        recipient="maria@example.com",
        action="failed",
        status="5.1.1",
        diagnostic="user unknown",
    )
    bounce = parse_message(raw.encode(), SETTINGS).bounce
    assert bounce is not None and bounce.original_message_ids == [
        "<reply-42@ladwp.example>"
    ]


QMAIL = """\
Return-Path: <>
From: MAILER-DAEMON@mx.example.com
To: contactus@ladwp.example
Subject: failure notice

Hi. This is the qmail-send program at mx.example.com.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<maria@example.com>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Return-Path: <contactus@ladwp.example>
From: contactus@ladwp.example
Message-ID: <reply-43@ladwp.example>
Subject: Re: your bill

The mailbox does not exist in our reply text, which must not matter.
"""


def test_free_text_bounce_uses_flufl_bounce_for_recipients() -> None:
    parsed = parse_message(QMAIL.encode(), SETTINGS)
    assert parsed.kind == "bounce"
    bounce = parsed.bounce
    assert bounce is not None
    assert bounce.recipients == ["maria@example.com"]
    assert bounce.original_message_ids == ["<reply-43@ladwp.example>"]
    assert bounce.status == "5.1.1" and bounce.hard


def test_mailer_daemon_without_an_address_is_still_a_bounce() -> None:
    parsed = parse_message(
        mail(
            "From: MAILER-DAEMON <>\nSubject: Mail delivery failed",
            "Could not deliver.\n",
        ),
        SETTINGS,
    )
    assert parsed.kind == "bounce" and parsed.auto_reason == "MAILER-DAEMON sender"


def test_customer_mentioning_a_returned_mail_is_a_customer() -> None:
    raw = mail(
        "From: maria@example.com\nSubject: Returned mail",
        "My payment letter was returned to me.\n",
    )
    assert parse_message(raw, SETTINGS).kind == "customer"


def test_abuse_report_is_automatic() -> None:
    raw = mail(
        'From: abuse@isp.example\nSubject: complaint\nContent-Type: multipart/report; report-type=feedback-report; boundary="F"',
        "--F\nContent-Type: text/plain\n\nThis is an abuse report.\n--F\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n--F--\n",
    )
    parsed = parse_message(raw, SETTINGS)
    assert (parsed.kind, parsed.auto_reason) == ("auto", "abuse feedback report (ARF)")


def test_bounce_word_keywords_cover_every_alternative() -> None:
    pattern = _BOUNCE_SUBJECT.pattern
    assert pattern == pattern.lower()
    alternatives = re.split(r"\|(?![^()]*\))", pattern)  # the top-level alternatives
    assert len(alternatives) > 20
    for alternative in alternatives:
        assert any(word in alternative for word in _BOUNCE_KEYWORDS), alternative


def test_bounce_word_search_sees_every_character_ignorecase_would_match() -> None:
    needed = ignorecase_only({char for char in _BOUNCE_SUBJECT.pattern if char.isalpha()})
    assert needed and all(_IGNORECASE_ONLY_ASCII.fullmatch(char) for char in needed)


@pytest.mark.parametrize(
    "text",
    ["Undeliverable: Your bill", "MAIL DELIVERY SUBSYSTEM", "Returned Mail: see transcript"]
    + ["Undelıverable", "Unzuſtellbar", "Mail Delivery Failed İn", "Delivery was delayed"]
    + ["My payment was delayed", "Please deliver the bill", "", "Señor, ¿por qué?"],
)
def test_bounce_word_search_agrees_with_the_case_insensitive_pattern(text: str) -> None:
    assert _has_bounce_words(text) == bool(_BOUNCE_SUBJECT.search(text))
