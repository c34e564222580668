"""Contact Us web-form submissions: plain `Label: value` bodies and the HTML table variant."""

from __future__ import annotations

from pathlib import Path

import pytest

from eteam.settings import Settings, load_settings
from ingest.parse import parse_message
from ingest.webform import (
    normalize_label,
    parse_form_html,
    parse_form_text,
    preferred_language,
)

SETTINGS = Settings()

PLAIN_FORM = """\
From: webforms@ladwp.example
Reply-To: Maria Lopez <maria@example.com>
To: contactus@ladwp.example
Subject: Contact Us: Billing
Message-ID: <form-1@ladwp.example>
Content-Type: text/plain; charset=utf-8

A new Contact Us submission:

First Name: Maria
Last Name: Lopez
Email: maria.form@example.com
Phone: (213) 555-0100
Account Number: 1234567890
Service Address: 123 Main St
  Apt 4
City: Los Angeles
ZIP: 90012
Topic: Billing
Preferred Language: Español
How did you hear about us: Radio
Message: Mi factura es muy alta.
Note: the meter was read on 11/20.

Por favor revisen.
"""


def test_plain_form_fields_and_reply_address() -> None:
    parsed = parse_message(PLAIN_FORM.encode(), SETTINGS)
    assert parsed.kind == "webform" and parsed.auto_reason is None
    fields = parsed.form_fields
    assert fields["First Name"] == "Maria" and fields["Last Name"] == "Lopez"
    assert fields["Account Number"] == "1234567890" and fields["ZIP"] == "90012"
    assert fields["Service Address"] == "123 Main St Apt 4"
    assert fields["How did you hear about us"] == "Radio"
    assert (
        fields["Message"]
        == "Mi factura es muy alta.\nNote: the meter was read on 11/20.\n\nPor favor revisen."
    )
    assert parsed.new_text == fields["Message"]
    assert parsed.topic == "Billing" and parsed.preferred_lang == "es"
    assert parsed.reply_to == "maria@example.com"


def test_form_email_field_is_the_reply_address_without_reply_to() -> None:
    raw = PLAIN_FORM.replace("Reply-To: Maria Lopez <maria@example.com>\n", "").encode()
    assert parse_message(raw, SETTINGS).reply_to == "maria.form@example.com"


def test_junk_email_field_falls_back_to_from() -> None:
    raw = PLAIN_FORM.replace("Reply-To: Maria Lopez <maria@example.com>\n", "").replace(
        "maria.form@example.com", "not an address"
    )
    assert parse_message(raw.encode(), SETTINGS).reply_to == "webforms@ladwp.example"


HTML_FORM = """\
From: WebForms@LADWP.example
Reply-To: juan@example.com
Subject: Contact Us: Other
Content-Type: text/html; charset=utf-8

<html><body><h2>Contact Us</h2>
<table>
<tr><th>First Name:</th><td>Juan</td></tr>
<tr><td>Last Name</td><td>Pérez</td></tr>
<tr><td>Account Number</td><td>0987654321</td></tr>
<tr><td>Preferred Language</td><td>English</td></tr>
<tr><td colspan="2">Submitted from the website</td></tr>
<tr><td>Comments</td><td>My power went out.<br>Twice this week.<p>Please help.</p></td></tr>
</table></body></html>
"""


def test_html_table_form() -> None:
    parsed = parse_message(HTML_FORM.encode(), SETTINGS)
    assert parsed.kind == "webform"
    assert (
        parsed.form_fields["First Name"] == "Juan"
        and parsed.form_fields["Last Name"] == "Pérez"
    )
    assert parsed.form_fields["Account Number"] == "0987654321"
    assert parsed.new_text == "My power went out.\nTwice this week.\n\nPlease help."
    assert parsed.topic == "Other" and parsed.preferred_lang == "en"


def test_subject_alone_with_form_fields_is_a_webform() -> None:
    raw = PLAIN_FORM.replace(
        "From: webforms@ladwp.example", "From: relay@forms.example"
    ).encode()
    assert parse_message(raw, SETTINGS).kind == "webform"


def test_customer_typing_a_contact_us_subject_is_a_customer() -> None:
    raw = b"From: maria@example.com\nSubject: Contact Us: my bill\n\nWhy is my bill so high? Note: I was away.\n"
    parsed = parse_message(raw, SETTINGS)
    assert parsed.kind == "customer" and parsed.form_fields == {}


def test_topic_from_subject_when_the_form_has_none() -> None:
    raw = PLAIN_FORM.replace("Topic: Billing\n", "").replace(
        "Contact Us: Billing", "Contact Us: Start Service"
    )
    assert parse_message(raw.encode(), SETTINGS).topic == "Start Service"


def test_label_normalization_and_languages() -> None:
    assert normalize_label("E-mail") == "Email"
    assert normalize_label(" Teléfono ") == "Phone"
    assert normalize_label("Zip Code") == "ZIP"
    assert normalize_label("Favourite colour") == "Favourite colour"
    assert [
        preferred_language(v)
        for v in ("English", "Español", "espanol", "Spanish", "Klingon")
    ] == [
        "en",
        "es",
        "es",
        "es",
        None,
    ]


def test_text_parser_ignores_sentences_and_preamble() -> None:
    fields = parse_form_text(
        "Thank you for your submission, here are the details we got:\nCity: Van Nuys\nMessage: hi"
    )
    assert fields == {"City": "Van Nuys", "Message": "hi"}


def test_html_parser_skips_rows_that_are_not_pairs() -> None:
    html = "<table><tr><td>Only one cell</td></tr><tr><td>City</td><td>Encino</td></tr><tr><td>a</td><td>b</td><td>c</td></tr></table>"
    assert parse_form_html(html) == {"City": "Encino"}


REDESIGNED_FORM = """\
From: webforms@ladwp.example
To: contactus@ladwp.example
Subject: Contact Us: Billing
Message-ID: <form-redesign@ladwp.example>
Content-Type: text/plain; charset=utf-8

Customer Account: 1234567890
Meter Number: 00-112233
Reply E-mail: ana@example.com
Tell us more: The bill doubled.
Please call me.
"""


def test_a_redesigned_form_needs_configured_labels_not_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The site renames its labels; the operator adds the spellings to the config file."""
    before = parse_message(REDESIGNED_FORM.encode(), SETTINGS)
    assert "Account Number" not in before.form_fields and before.reply_to == "webforms@ladwp.example"
    config = tmp_path / "eteam.toml"
    config.write_text(
        '[form_labels]\n"Account Number" = ["Customer Account"]\nEmail = ["Reply E-mail"]\n'
        'Message = ["Tell us more"]\n"Meter Number" = []\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("ETEAM_CONFIG", str(config))
    parsed = parse_message(REDESIGNED_FORM.encode(), load_settings())
    assert parsed.kind == "webform"
    assert parsed.form_fields == {
        "Account Number": "1234567890",
        "Meter Number": "00-112233",
        "Email": "ana@example.com",
        "Message": "The bill doubled.\nPlease call me.",
    }
    assert parsed.reply_to == "ana@example.com"  # the form's Email, as SPEC 3.2 says
    assert parsed.new_text == "The bill doubled.\nPlease call me."


def test_configured_labels_count_toward_recognising_a_form_sent_by_hand() -> None:
    """Without the form mailer's address, a form is known by its subject and known labels."""
    raw = REDESIGNED_FORM.replace("From: webforms@ladwp.example", "From: ana@example.com").encode()
    assert parse_message(raw, SETTINGS).kind != "webform"
    labels = {"Account Number": ["Customer Account"], "Email": ["Reply E-mail"], "Message": ["Tell us more"]}
    assert parse_message(raw, Settings(form_labels=labels)).kind == "webform"
