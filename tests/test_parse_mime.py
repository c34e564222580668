"""parse_message and its MIME plumbing on tiny hand-written messages, and on hostile input."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime
from functools import partial

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from eteam.settings import Settings
from ingest.mime import (
    _PLAIN_FRAGMENT,
    BLOCKQUOTE_DEPTH_LIMIT,
    HTML_LIMIT,
    _convert_html,
    _rfc5322_date,
    _simple_address,
    bound_html,
    decode_address_header,
    decode_bytes,
    decode_header_value,
    header_index,
    html_to_text,
    parse_addresses,
    parse_bytes,
    raw_header_values,
)
from ingest.parse import AttachmentInfo, ParsedMessage, message_id_of, parse_message
from tests.bounded_cost import ORDINARY_HTML, assert_costs_like_ordinary, ordinary

SETTINGS = Settings()


def mail(headers: str, body: str | bytes = "Hello.\n") -> bytes:
    """A raw message from header lines and a body (str is UTF-8 encoded)."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return headers.strip().encode("utf-8") + b"\n\n" + data


PLAIN = mail(
    """
From: "Lopez, Maria" <Maria@Example.com>
To: contactus@ladwp.example
Subject: =?utf-8?q?Factura_m=C3=A1s_alta?=
Date: Mon, 23 Nov 2026 10:00:00 -0800
Message-ID: <abc123@example.com>
In-Reply-To: <ours-2@ladwp.example>
References: <ours-1@ladwp.example> <ours-2@ladwp.example>
Content-Type: text/plain; charset=utf-8
""",
    "My bill is too high.\n\nOn Mon, Nov 20, 2026 at 9:00 AM LADWP <contactus@ladwp.example> wrote:\n> Thanks for writing.\n",
)


def test_plain_customer_message() -> None:
    parsed = parse_message(PLAIN, SETTINGS)
    assert isinstance(parsed, ParsedMessage)
    assert parsed.kind == "customer" and parsed.auto_reason is None
    assert parsed.message_id == "<abc123@example.com>"
    assert parsed.content_hash == hashlib.sha256(PLAIN).hexdigest()
    assert (parsed.from_name, parsed.from_addr) == ("Lopez, Maria", "Maria@Example.com")
    assert (
        parsed.reply_to == "Maria@Example.com"
        and parsed.to_addr == "contactus@ladwp.example"
    )
    assert parsed.subject == "Factura más alta"
    assert parsed.date is not None and parsed.date.utcoffset() is not None
    assert parsed.in_reply_to == "<ours-2@ladwp.example>"
    assert parsed.references == ["<ours-2@ladwp.example>", "<ours-1@ladwp.example>"]
    assert "wrote:" in parsed.text and parsed.new_text == "My bill is too high."
    assert parsed.headers["Subject"] == "Factura más alta"
    assert parsed.headers["Message-ID"] == "<abc123@example.com>"
    assert message_id_of(PLAIN) == parsed.message_id


def test_missing_message_id_gets_a_content_hash_id() -> None:
    raw = mail("From: a@b.example\nSubject: hi")
    digest = hashlib.sha256(raw).hexdigest()
    assert parse_message(raw, SETTINGS).message_id == f"<{digest}@no-message-id.eteam>"
    assert message_id_of(raw) == f"<{digest}@no-message-id.eteam>"


def test_message_id_without_angle_brackets_is_normalized() -> None:
    raw = mail("From: a@b.example\nMessage-ID:  bare-id@b.example ")
    assert (
        parse_message(raw, SETTINGS).message_id
        == "<bare-id@b.example>"
        == message_id_of(raw)
    )


def test_empty_input_gives_an_empty_customer_message() -> None:
    parsed = parse_message(b"", SETTINGS)
    assert parsed.kind == "customer" and parsed.text == "" and parsed.new_text == ""
    assert parsed.message_id == message_id_of(b"")


def test_date_without_zone_is_utc_and_junk_date_is_none() -> None:
    naive = parse_message(
        mail("From: a@b.example\nDate: Mon, 23 Nov 2026 10:00:00 -0000"), SETTINGS
    )
    assert naive.date is not None and naive.date.tzinfo == UTC
    assert (
        parse_message(mail("From: a@b.example\nDate: yesterday-ish"), SETTINGS).date
        is None
    )


def test_utf8_body_labelled_latin1_is_recovered() -> None:
    raw = mail(
        "From: a@b.example\nContent-Type: text/plain; charset=iso-8859-1",
        "Tengo una pregunta sobre mi cuenta. ¿Señor?".encode(),
    )
    parsed = parse_message(raw, SETTINGS)
    assert "¿Señor?" in parsed.text
    assert any("utf-8" in defect for defect in parsed.defects)


def test_missing_and_unknown_charsets_are_guessed() -> None:
    latin = "Quisiera saber por qué mi factura subió tanto este mes, señora.".encode(
        "cp1252"
    )
    for content_type in ("text/plain", "text/plain; charset=x-no-such-charset"):
        parsed = parse_message(
            mail(f"From: a@b.example\nContent-Type: {content_type}", latin), SETTINGS
        )
        assert "señora" in parsed.text and "por qué" in parsed.text


def test_decode_bytes_trusts_a_correct_multibyte_charset() -> None:
    assert decode_bytes("こんにちは".encode("shift_jis"), "shift_jis") == (
        "こんにちは",
        None,
    )


def test_raw_8bit_header_and_nul_bytes_are_made_storable() -> None:
    raw = "From: José <jose@b.example>\nSubject: Año\n\nbody\x00text\n".encode()
    parsed = parse_message(raw, SETTINGS)
    assert parsed.from_name == "José" and parsed.subject == "Año"
    assert parsed.text == "bodytext"
    parsed.text.encode("utf-8")  # no lone surrogates


def test_html_only_message() -> None:
    html = (
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<p>The power is <b>out</b> on my street.</p>"
        '<div class="gmail_quote">On Mon, Nov 20, 2026 at 9:00 AM LADWP &lt;contactus@ladwp.example&gt; wrote:'
        "<blockquote><p>Old reply</p></blockquote></div></body></html>"
    )
    parsed = parse_message(
        mail("From: a@b.example\nContent-Type: text/html; charset=utf-8", html),
        SETTINGS,
    )
    assert "The power is out on my street." in parsed.text
    assert "> Old reply" in parsed.text and "color:red" not in parsed.text
    assert parsed.new_text == "The power is out on my street."


def test_alternative_prefers_plain_and_falls_back_to_html() -> None:
    template = (
        'Content-Type: multipart/alternative; boundary="b"\n\n--b\nContent-Type: text/plain\n\n{plain}\n'
        "--b\nContent-Type: text/html\n\n<p>HTML version</p>\n--b--\n"
    )
    with_plain = parse_message(
        ("From: a@b.example\n" + template.format(plain="Plain version")).encode(),
        SETTINGS,
    )
    assert with_plain.text == "Plain version"
    empty_plain = parse_message(
        ("From: a@b.example\n" + template.format(plain="")).encode(), SETTINGS
    )
    assert empty_plain.text == "HTML version"


def test_attachments_and_the_store_limit() -> None:
    raw = (
        b'From: a@b.example\nContent-Type: multipart/mixed; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nSee attached bill.\n"
        b'--b\nContent-Type: application/pdf; name="bill.pdf"\nContent-Disposition: attachment; filename="bill.pdf"\n'
        b"Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n"
        b'--b\nContent-Type: image/png\nContent-Disposition: inline; filename="meter.png"\n\nPNGDATA-PNGDATA\n--b--\n'
    )
    parsed = parse_message(raw, Settings(attachment_store_limit=10))
    assert parsed.text == "See attached bill."
    assert parsed.attachments[0] == AttachmentInfo(
        "bill.pdf", "application/pdf", 9, b"%PDF-1.4\n"
    )
    assert (
        parsed.attachments[1].filename == "meter.png"
        and parsed.attachments[1].content is None
    )
    assert parsed.attachments[1].size == len(b"PNGDATA-PNGDATA")


def test_headers_are_capped() -> None:
    parsed = parse_message(mail("From: a@b.example\nSubject: " + "x" * 5000), SETTINGS)
    assert len(parsed.headers["Subject"]) == 2000


def test_huge_nested_html_converts_like_ordinary_html() -> None:
    nested = "<div>" * 300_000 + "deep text" + "</div>" * 300_000
    assert len(nested) > 2_000_000
    assert "<" not in html_to_text(nested)  # cut at the raw limit, before the text
    within_limit = "<div><span>" * 10_000 + "deep text" + "</span></div>" * 10_000
    assert html_to_text(within_limit) == "deep text"
    quotes = "<blockquote><p>line</p>" * 60_000 + "</blockquote>" * 60_000
    quote_levels = [len(line) - len(line.lstrip(">")) for line in html_to_text(quotes).splitlines()]
    assert max(quote_levels) == BLOCKQUOTE_DEPTH_LIMIT  # no 60,000 "> " prefixes per line
    for html in (nested, within_limit, quotes):
        usual = ordinary(ORDINARY_HTML, len(html))
        assert_costs_like_ordinary(partial(html_to_text, html), partial(html_to_text, usual), html[:30])


def test_huge_nested_html_message_parses_like_an_ordinary_one() -> None:
    nested = "<div>" * 300_000 + "deep text" + "</div>" * 300_000
    raw = mail("From: a@b.example\nContent-Type: text/html", nested)
    parsed = parse_message(raw, SETTINGS)
    assert parsed.text == ""
    assert any("converted" in defect for defect in parsed.defects)
    usual = mail("From: a@b.example\nContent-Type: text/html", ordinary(ORDINARY_HTML, len(nested)))
    assert_costs_like_ordinary(
        partial(parse_message, raw, SETTINGS), partial(parse_message, usual, SETTINGS), "nested HTML mail"
    )


def test_hostile_html_token_soup_converts_like_ordinary_html() -> None:
    for soup in (
        "<b" * 400_000,
        "<script" * 300_000,
        "<!--" * 400_000,
        "</b" * 400_000,
    ):
        usual = ordinary(ORDINARY_HTML, len(soup))
        assert_costs_like_ordinary(partial(html_to_text, soup), partial(html_to_text, usual), soup[:10])


def test_unclosed_head_does_not_swallow_the_body() -> None:
    assert (
        html_to_text("<html><head><meta charset=utf-8><body><p>Body text</p>")
        == "Body text"
    )


def test_deep_mime_nesting_keeps_headers_and_raw_body() -> None:
    depth = 3000
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n'
        for i in range(depth)
    )
    tail = "".join(f"--b{i}--\n" for i in reversed(range(depth)))
    raw = (
        "From: a@b.example\nSubject: deep\n"
        + head
        + "Content-Type: text/plain\n\ninnermost\n"
        + tail
    ).encode()
    parsed = parse_message(raw, SETTINGS)
    assert parsed.subject == "deep" and "innermost" in parsed.text
    assert parsed.defects


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_any_bytes_parse_without_raising(raw: bytes) -> None:
    parsed = parse_message(raw, SETTINGS)
    assert parsed.message_id == message_id_of(raw)
    assert parsed.kind in {"customer", "webform", "outage_broadcast", "auto", "bounce"}


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_any_text_after_headers_parses_without_raising(body: str) -> None:
    raw = (
        "From: a@b.example\nContent-Type: multipart/mixed; boundary=x\n\n" + body
    ).encode("utf-8", "surrogatepass")
    parse_message(raw, SETTINGS).text.encode("utf-8")


# --- quick paths: each must give what the general path gives -------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "a@b.example",
        "Maria  Lopez <m@x.example>",
        '"Lopez, Maria" <Maria@Example.com>',
        '"" <a@b.example>',
        "O'Neil Jr.\t<o.neil+bills@x.example>",
    ],
)
def test_common_address_forms_take_the_quick_path(value: str) -> None:
    assert _simple_address(value) is not None
    assert [_simple_address(value)] == getaddresses([value])


_NAME_WORDS = ["a", "b.c", "X-Y", "o'n", "Jr.", "..", "@", ",", "(c)", "\\", '"q, r"', '""']
_ADDR_SPECS = ["a@b", "a.b@c.example", "a..b@c", ".a@b", "a@b.", "a@b@c", "x+y@z", "a@[1.2.3.4]"]
_ADDRESS_FORMS = ["{a}", "{n} <{a}>", "{n}<{a}>", "{n}\t <{a}>", "<{a}>", "{n} < {a} >"]


@hypothesis_settings(max_examples=1000, deadline=None)
@given(
    words=st.lists(st.sampled_from(_NAME_WORDS), max_size=3),
    spaces=st.sampled_from([" ", "  ", "\t"]),
    addr=st.sampled_from(_ADDR_SPECS),
    form=st.sampled_from(_ADDRESS_FORMS),
    tail=st.sampled_from(["", "", "", " ", "x", ", b@c.example", ">"]),
)
def test_quick_address_path_agrees_with_getaddresses(
    words: list[str], spaces: str, addr: str, form: str, tail: str
) -> None:
    value = form.format(n=spaces.join(words), a=addr) + tail
    simple = _simple_address(value)
    if simple is not None:
        assert [simple] == getaddresses([value])


def _stdlib_date(value: str) -> datetime | None:
    """What `parse_date` gave before its quick path: the stdlib's reading, UTC when zoneless."""
    try:
        parsed = parsedate_to_datetime(value)
    except Exception:  # noqa: BLE001 - any failure is an unusable date
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@hypothesis_settings(max_examples=1000, deadline=None)
@given(
    weekday=st.sampled_from(["", "Sat, ", "Xyz, ", "Sat "]),
    day=st.integers(0, 32),
    month=st.sampled_from(["Jan", "Feb", "Jun", "Nov", "Dec", "nov"]),
    year=st.integers(900, 10_000),
    clock=st.tuples(st.integers(0, 25), st.integers(0, 61), st.integers(0, 61)),
    sign=st.sampled_from(["+", "-"]),
    zone=st.integers(0, 2599),
    tail=st.sampled_from(["", " (PST)", "(PST)", "  x", "\xa0(UTC)"]),
)
def test_quick_date_path_agrees_with_the_stdlib(
    weekday: str,
    day: int,
    month: str,
    year: int,
    clock: tuple[int, int, int],
    sign: str,
    zone: int,
    tail: str,
) -> None:
    hour, minute, second = clock
    value = f"{weekday}{day} {month} {year} {hour:02d}:{minute:02d}:{second:02d} {sign}{zone:04d}{tail}"
    try:
        quick = _rfc5322_date(value)
    except ValueError:  # out-of-range fields, as for the stdlib
        quick = None
    else:
        if quick is None:
            return  # not the quick path's form: the stdlib alone reads it
    assert repr(quick) == repr(_stdlib_date(value))


def test_common_dates_take_the_quick_path() -> None:
    for value in ("Sat, 21 Nov 2026 13:40:26 -0800", "1 Dec 2026 08:05:00 +0000 (UTC)"):
        assert _rfc5322_date(value) is not None
        assert repr(_rfc5322_date(value)) == repr(_stdlib_date(value))


@hypothesis_settings(max_examples=500, deadline=None)
@given(st.from_regex(_PLAIN_FRAGMENT, fullmatch=True))
def test_plain_fragments_are_their_own_text(fragment: str) -> None:
    assert _convert_html(fragment) == fragment == html_to_text(fragment)


def test_html_becomes_plain_text_not_markdown() -> None:
    for cell, text in (
        ("1. Main St", "1. Main St"),
        ("- item", "- item"),
        ("+ 1", "+ 1"),
        ("a  b", "a b"),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("<b>x</b> <i>y</i> <a href='z'>link</a>", "x y link"),
        ("<h2>Outage</h2><p>Out since 9</p>", "Outage\n\nOut since 9"),
        ("<p>a\x02b\x1ec\x03</p>", "abc"),  # control characters in the mail cannot fake quotes or lines
    ):
        assert html_to_text(cell) == _convert_html(cell) == text



def test_html_cut_off_inside_a_tag_drops_the_tag_not_the_text() -> None:
    """A truncated part (sender's or our limit's) ends inside a tag: browsers drop it, and so do we."""
    for html, text in (
        ('<p>Please call me</p><meta name="gen', "Please call me"),
        ("<p>Please call me</p><p", "Please call me"),
        ("<p>My bill is wrong</p></di", "My bill is wrong"),
        ("<p>I pay less than < $50", "I pay less than < $50"),  # not a tag: the customer's words
        ("<p>x &lt; y and 5 <3", "x < y and 5 <3"),
    ):
        assert html_to_text(bound_html(html)) == text
    words = "w" * (HTML_LIMIT - len("<p><s"))
    assert bound_html(f'<p>{words}<span class="x">more</span>') == f"<p>{words}"  # the limit cut "<span>"

def test_html_layout_follows_the_elements() -> None:
    html = (
        "<div>Hi,<br><br>My bill is <b>wrong</b>.<br>Thanks</div><div><br></div>"
        "<ul><li>one</li><li>two</li></ul>"
        "<table><tr><th>Name</th><td>Ana</td></tr><tr><td>ZIP</td><td>90012</td></tr></table>"
        "<pre>line 1\nline 2</pre>"
        "<blockquote><p>old</p><p>older</p><blockquote>oldest</blockquote></blockquote><p>after</p>"
    )
    assert html_to_text(html).split("\n") == [
        "Hi,", "", "My bill is wrong.", "Thanks",
        "", "- one", "- two",
        "", "Name | Ana", "ZIP | 90012",
        "", "line 1", "line 2",
        "", "> old", ">", "> older", ">", ">> oldest",
        "", "after",
    ]


@pytest.mark.parametrize(
    "value",
    [
        "Maria Lopez <m@x.example>",
        "=?utf-8?q?Rosa_Elena_Mart=C3=ADnez?= <rosa@y.example>",
        "=?iso-8859-1?q?Mart=EDn_Ib=E1=F1ez?= <martin@y.example>, b@c.example",
        "=?x-unknown?q?caf=E9?= <a@b.example>",
        "=?utf-8?q?broken <a@b.example>",
        "José <jose@b.example>",
        "undisclosed-recipients:;",
        "",
    ],
)
def test_address_header_read_once_as_the_two_readings(value: str) -> None:
    assert decode_address_header("From", value) == (
        decode_header_value("From", value),
        parse_addresses("From", value),
    )


def test_header_index_holds_what_raw_header_values_gives() -> None:
    msg = parse_bytes(
        b"Received: from a\nRECEIVED: from b\n\tfolded\nFrom: a@b.example\n"
        b"X-Long: " + b"x" * 9000 + b"\n\nbody\n"
    )
    index = header_index(msg)
    for name in ("Received", "From", "X-Long", "Subject"):
        assert index.get(name.lower(), []) == raw_header_values(msg, name)


def test_attachment_names_in_any_parameter_spelling() -> None:
    raw = (
        b'From: a@b.example\nContent-Type: multipart/mixed; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nSee attached.\n"
        b'--b\nContent-Type: text/plain; NAME="notes.txt"\n\nnotes\n'
        b"--b\nContent-Type: application/pdf\n"
        b"Content-Disposition: attachment; filename*=utf-8''factura%20%C3%B1.pdf\n\nPDF\n--b--\n"
    )
    parsed = parse_message(raw, SETTINGS)
    assert parsed.text == "See attached."
    assert [a.filename for a in parsed.attachments] == ["notes.txt", "factura ñ.pdf"]
