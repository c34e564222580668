"""MIME plumbing: bytes to an `email` message, headers to clean strings, bodies to text.

Inbound mail is hostile or broken often enough that every step here degrades instead of
raising: a header that will not parse is decoded by hand, a wrong or unknown charset is
recovered, HTML is converted under hard size and nesting bounds. Every string handed out
is safe to store: no lone surrogates (from undecodable bytes) and no NUL characters,
which PostgreSQL's text type refuses.

The MIME structure is read with the compat32 policy and headers are decoded on demand with
the modern policy's header registry (falling back to `email.header` when it raises).
Parsing whole messages with `policy.default` was measured 2-3x slower on ordinary mail
(it re-parses Content-Type on every access; 14x on multipart-heavy mail), and SPEC 9 asks
for 1,000 messages/s end to end on two cores.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.header import decode_header
from email.headerregistry import BaseHeader
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

import charset_normalizer
from selectolax.lexbor import LexborHTMLParser

#: Longest header value kept; longer values are junk or attacks, not information.
HEADER_LIMIT = 2000
#: HTML beyond this is not read at all.
RAW_HTML_LIMIT = 1024 * 1024
#: Cleaned HTML (no attributes, scripts or styles) beyond this is not converted: it holds
#: some 60 KB of ordinary mail's text and bounds the work a hostile message can ask for.
HTML_LIMIT = 128 * 1024
#: Element nesting beyond this adds no meaning and makes HTML parsers quadratic.
HTML_DEPTH_LIMIT = 64
#: Blockquote nesting beyond this would multiply "> " prefixes in the text output.
BLOCKQUOTE_DEPTH_LIMIT = 8
#: Bytes sampled when guessing an undeclared or wrong charset.
CHARSET_SAMPLE = 256 * 1024
#: The charset assumed when guessing cannot decide (English and Spanish Windows mail).
WESTERN_CHARSET = "cp1252"

# Charsets that decode any byte sequence, so a successful decode proves nothing: text
# labelled with them that is valid UTF-8 was almost certainly UTF-8.
_PERMISSIVE_CODECS = {
    codecs.lookup(name).name for name in ("ascii", "latin-1", "iso-8859-15", "cp1252")
}
_UTF8 = codecs.lookup("utf-8").name
_VOID_ELEMENTS = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
# Comments, scripts and styles say nothing to a reader; an unclosed one runs to the end, as
# in a browser (and one pass stays linear). A title is dropped only when closed.
_DROPPED_HTML = re.compile(
    r"<!--.*?(?:-->|\Z)|<!\[CDATA\[.*?(?:\]\]>|\Z)|<(script|style|xml)\b[^<>]*+>.*?(?:</\1\s*>|\Z)"
    r"|<title\b[^<>]*+>[^<]*+</title\s*>",
    re.IGNORECASE | re.DOTALL,
)
# A "<" that does not open a complete tag before the next "<": stdlib html.parser rescans
# the rest of the document for each one (quadratic), so it is escaped as text.
_STRAY_LT = re.compile(r"<(?![a-zA-Z/!?][^<>]*+>)")
_PARTIAL_TAG = re.compile(r"<(?:[a-zA-Z/!?][^<>]*+)?\Z")
#: Entities in a row that collapse to one space.
ENTITY_RUN_LIMIT = 32
_ENTITY_RUN = re.compile(rf"(?:&#?\w{{0,10}};?\s*){{{ENTITY_RUN_LIMIT},}}")
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*+)([^<>]*+)>")
_BODY_TYPES = ("text/plain", "text/html")
_NAMING_HEADERS = ("Content-Disposition", "Content-Type")
# Words that are their own text: no markup, entities or doubled spaces.
# tests/test_parse_mime.py checks this against the converter.
_PLAIN_FRAGMENT = re.compile(r"[A-Za-z0-9(+-][A-Za-z0-9@.,'()/#:+-]*(?: [A-Za-z0-9@.,'()/#:+-]+)*")
# Markers `_convert_html` puts around the elements that shape text: control characters that
# are not whitespace to the collapsing below, removed from the bounded HTML first.
_LINE, _BREAK, _PARAGRAPH, _ITEM = "\x1e", "\x1b", "\x1d", "\x1c"
_CELL, _QUOTE_OPEN, _QUOTE_CLOSE = "\x1f", "\x02", "\x03"
_MARKER_CHARS = re.compile("[\x1e\x1b\x1d\x1c\x1f\x02\x03]")
_MARKER = re.compile("([\x1e\x1b\x1d\x1c\x02\x03])")
_CELL_RUN = re.compile(r"\s*\x1f[\s\x1f]*")
# Whitespace as HTML collapses it (not the no-break space, which is turned into a space first).
_HTML_WHITESPACE = re.compile(r"[ \t\r\n\f]+")
#: element -> (marker before it, marker after it)
_SHAPING: dict[str, tuple[str, str]] = {
    **dict.fromkeys(
        ("div", "tr", "dt", "dd", "address", "article", "aside", "caption", "center", "details",
         "fieldset", "figcaption", "figure", "footer", "form", "header", "main", "nav", "section", "summary"),
        (_LINE, _LINE),
    ),
    **dict.fromkeys(("p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table", "hr"), (_PARAGRAPH, _PARAGRAPH)),
    "br": (_BREAK, ""),
    "li": (_ITEM, _LINE),
    "td": (_CELL, ""),
    "th": (_CELL, ""),
    "blockquote": (_QUOTE_OPEN, _QUOTE_CLOSE),
}
_SHAPING_SELECTOR = ", ".join(_SHAPING)
_SURROGATE = re.compile("[\udc80-\udcff]")
_FOLD = re.compile(r"\r?\n[ \t]*")
# One address in RFC 5322's plain atoms: `a@b.example`, `Name <a@b.example>`, `"Name" <...>`.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*"
_PHRASE_WORD = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+"
_SIMPLE_ADDRESS = re.compile(
    rf"(?P<bare>{_ADDR_SPEC})"
    rf'|(?:"(?P<quoted>[^"\\\r\n]*)"|(?P<phrase>{_PHRASE_WORD}(?:[ \t]+{_PHRASE_WORD})*))'
    rf"[ \t]*<(?P<addr>{_ADDR_SPEC})>"
)
_MONTHS = tuple("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())
# "Sat, 21 Nov 2026 13:40:26 -0800 (PST)"; what follows the zone is ignored, as by the stdlib.
_RFC5322_DATE = re.compile(
    rf"(?:[A-Za-z]+, )?([0-9]{{1,2}}) ({'|'.join(_MONTHS)}) ([1-9][0-9]{{3}}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})(?:\s.*)?"
)
#: MIME nesting deeper than this is not walked for text (hostile mail nests thousands deep).
MIME_DEPTH_LIMIT = 50


@dataclass
class AttachmentInfo:
    """One attachment; `content` is None when it is larger than the store limit (the raw message keeps it)."""

    filename: str
    content_type: str
    size: int
    content: bytes | None


@dataclass
class Body:
    """What a message says: its text, the HTML it came from (for form tables) and its attachments."""

    text: str = ""
    html: list[str] = field(default_factory=list)
    attachments: list[AttachmentInfo] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def clean_text(value: str) -> str:
    """Make a string storable: re-decode smuggled raw bytes (surrogates) and drop NULs."""
    if not value.isascii() and _SURROGATE.search(value):
        raw = value.encode("utf-8", "surrogateescape")
        value = decode_bytes(raw, None)[0]
    return value.replace("\x00", "")


def parse_bytes(raw: bytes) -> Message:
    """The MIME structure, read leniently: compat32 records defects instead of raising."""
    return BytesParser(policy=policy.compat32).parsebytes(raw)


def _raw_value(value: object) -> str:
    """An unparsed header value, cut at a few times the kept length.

    The stdlib's structured header parser is superlinear on huge address lists, and
    nothing past the cut is kept anyway.
    """
    return str(value)[: 4 * HEADER_LIMIT]


def raw_header_values(msg: Message, name: str) -> list[str]:
    """The unparsed values of every header called `name`, top (newest hop) first."""
    wanted = name.lower()
    return [
        _raw_value(value) for key, value in msg.raw_items() if key.lower() == wanted
    ]


def header_index(msg: Message) -> dict[str, list[str]]:
    """`raw_header_values` of every header at once, by lower-case name.

    Parsing asks a message for a dozen headers by name; one pass over its header block
    serves them all instead of one pass each.
    """
    index: dict[str, list[str]] = {}
    for key, value in msg.raw_items():
        index.setdefault(key.lower(), []).append(_raw_value(value))
    return index


def _decode_header_by_hand(raw: str) -> str:
    """RFC 2047 decoding that survives unknown charsets and broken encoded words."""
    try:
        pieces = decode_header(raw)
    except Exception:  # noqa: BLE001 - a malformed encoded word: keep the text as sent
        return raw
    return "".join(
        decode_bytes(piece, charset)[0] if isinstance(piece, bytes) else piece
        for piece, charset in pieces
    )


def _unfold(value: str) -> str:
    """One line from a folded header (RFC 5322 continuation lines)."""
    return (_FOLD.sub(" ", value) if "\n" in value else value).strip()


def _is_plain(value: str) -> bool:
    """ASCII without encoded words: nothing to decode, so the slow parser can be skipped."""
    return value.isascii() and "=?" not in value


def _structured(name: str, raw: str) -> BaseHeader | None:
    """policy.default's reading of an encoded header value; None where the stdlib raises."""
    try:
        return policy.default.header_fetch_parse(name, raw)
    except Exception:  # noqa: BLE001 - the stdlib header parser has crash bugs on junk
        return None


def _decoded_text(raw: str, header: BaseHeader | None) -> str:
    """A header value as storable text; `header` is its structured reading if encoded."""
    if _is_plain(raw):
        text = raw
    elif header is not None:
        text = str(header)
    else:
        text = _decode_header_by_hand(_unfold(raw))
    return clean_text(_unfold(text))[:HEADER_LIMIT]


def decode_header_value(name: str, raw: str) -> str:
    """A header's value as readable text, whatever its encoding, capped in length."""
    return _decoded_text(raw, None if _is_plain(raw) else _structured(name, raw))


def _simple_address(value: str) -> tuple[str, str] | None:
    """The pair of `a@b.example`, `Name <a@b.example>` or `"Name" <a@b.example>`, else None.

    Most mail names one sender and one recipient this way. getaddresses reads these to
    the same pair (tests/test_parse_mime.py compares them), but as pure Python it costs
    some 20 us a header, more than parsing the rest of a short message's headers.
    """
    match = _SIMPLE_ADDRESS.fullmatch(value)
    if match is None:
        return None
    if match["bare"] is not None:
        return "", match["bare"]
    name = match["quoted"]
    if name is None:  # unquoted words, joined by single spaces as getaddresses joins them
        name = " ".join(match["phrase"].split())
    return name, match["addr"]


def _address_pairs(raw: str, header: BaseHeader | None) -> list[tuple[str, str]]:
    """(display name, address) pairs of a header value; `header` as for `_decoded_text`."""
    pairs: list[tuple[str, str]] = []
    if _is_plain(raw):
        unfolded = _unfold(raw)
        simple = _simple_address(unfolded)
        pairs = [simple] if simple is not None else getaddresses([unfolded])
    elif header is not None:
        try:
            pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
        except Exception:  # noqa: BLE001 - fall back to the permissive compat parser below
            pairs = []
    if not any("@" in addr for _, addr in pairs):
        pairs = getaddresses([_decode_header_by_hand(_unfold(raw))])
    return [
        (clean_text(display)[:HEADER_LIMIT], clean_text(addr).strip("<> ")[:320])
        for display, addr in pairs
        if addr and addr.strip("<> ")
    ]


def parse_addresses(name: str, raw: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of one address header's value; junk entries are skipped."""
    return _address_pairs(raw, None if _is_plain(raw) else _structured(name, raw))


def decode_address_header(name: str, raw: str) -> tuple[str, list[tuple[str, str]]]:
    """`decode_header_value` and `parse_addresses` of one value, from one structured parse.

    The stdlib's structured parser is most of the cost of an encoded header (a Spanish
    name in From costs some 130 us), so it is run once for both readings.
    """
    header = None if _is_plain(raw) else _structured(name, raw)
    return _decoded_text(raw, header), _address_pairs(raw, header)


def _rfc5322_date(value: str) -> datetime | None:
    """A date in RFC 5322's own form, read as `parsedate_to_datetime` reads it; else None.

    Nearly every Date header has this form, and the stdlib's general reader of dates
    (pure Python, for every historical format) costs several times as much.
    tests/test_parse_mime.py compares the two.
    """
    match = _RFC5322_DATE.fullmatch(value)
    if match is None:
        return None
    day, month, year, hour, minute, second, sign, zone_hours, zone_minutes = (
        match.groups()
    )
    offset = int(zone_hours) * 3600 + int(zone_minutes) * 60
    return datetime(
        int(year),
        _MONTHS.index(month) + 1,
        int(day),
        int(hour),
        int(minute),
        int(second),
        tzinfo=timezone(timedelta(seconds=-offset if sign == "-" else offset)),
    )


def parse_date(raw: str) -> datetime | None:
    """A Date header's value as an aware datetime (UTC when the zone is unknown), or None."""
    unfolded = _unfold(raw)
    try:
        value = _rfc5322_date(unfolded) or parsedate_to_datetime(unfolded)
    except Exception:  # noqa: BLE001 - unparseable or out-of-range dates are simply unknown
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _codec_name(charset: str | None) -> str | None:
    """Python's name for a declared charset; None when missing or unknown (then it is guessed)."""
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip('"').lower()).name
    except LookupError:
        return None


def _guess_charset(sample: bytes) -> str:
    """charset-normalizer's guess, tilted to Windows-1252 on a tie.

    Customers write English and Spanish; short Spanish text in cp1252 scores the same as
    cp1250 (where "ñ" becomes "ń"), and the detector's tie-break is not ours to accept.
    """
    results = charset_normalizer.from_bytes(sample)
    best = results.best()
    if best is None:
        return WESTERN_CHARSET
    western = next(
        (match for match in results if match.encoding == WESTERN_CHARSET), None
    )
    if western is not None and (western.chaos, -western.coherence) <= (
        best.chaos,
        -best.coherence,
    ):
        return WESTERN_CHARSET
    return best.encoding


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode body or header bytes, recovering from missing, unknown or wrong charsets.

    Returns the text and a note when the declared charset was not the one used. A strict
    decode with a declared multi-byte charset is trusted; a permissive single-byte label
    is overruled by valid UTF-8; anything else goes to charset-normalizer.
    """
    codec = _codec_name(charset)
    if codec is not None and codec not in _PERMISSIVE_CODECS:
        try:
            return data.decode(codec), None
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        wrong = codec not in (None, _UTF8) and not data.isascii()
        return text, (f"charset {charset!r} was really utf-8" if wrong else None)
    if codec is not None and codec != "ascii":
        return data.decode(codec, "replace"), None
    guess = _guess_charset(data[:CHARSET_SAMPLE])
    return data.decode(guess, "replace"), f"charset {charset!r} guessed as {guess}"


def _cut(html: str, limit: int) -> str:
    """The first `limit` characters, without a tag cut in half at the end.

    A tag left open at the end is dropped whether the cut or the sender made it (a truncated
    part ends `<meta name=...`): browsers drop it too (HTML5's EOF-in-tag), and otherwise the
    stray-`<` escaping below would show it to the agent as text.
    """
    return _PARTIAL_TAG.sub("", html[:limit], count=1)


def bound_html(html: str) -> str:
    """Cut HTML down to what is safe and quick to parse: the meaning, under hard bounds.

    Comments, scripts and styles go; tags lose their attributes (nothing downstream reads
    them, and Outlook's inline styles are most of its bytes); tags past the nesting limits
    go (their text stays), since deep nesting makes HTML5 tree builders quadratic and
    multiplies "> " prefixes; long runs of entities collapse to a space. Linear passes.
    """
    html = _cut(html, RAW_HTML_LIMIT)
    html = _STRAY_LT.sub("&lt;", _DROPPED_HTML.sub(" ", html))
    if html.count("&") >= ENTITY_RUN_LIMIT:  # an "&" per entity; counting is quicker
        html = _ENTITY_RUN.sub(" ", html)
    depth = quote_depth = 0
    # Text, then each tag's three groups and the text after it: quicker than Match objects.
    parts = _TAG.split(html)
    pieces = [parts[0]]
    for closing, name, rest, text in zip(
        parts[1::4], parts[2::4], parts[3::4], parts[4::4]
    ):
        tag = name.lower()
        if tag in _VOID_ELEMENTS or rest.endswith("/"):
            pieces.append(f"<{tag}>")
        else:
            if closing:
                keep = depth <= HTML_DEPTH_LIMIT and (
                    tag != "blockquote" or quote_depth <= BLOCKQUOTE_DEPTH_LIMIT
                )
                depth = max(depth - 1, 0)
                quote_depth = max(quote_depth - (tag == "blockquote"), 0)
            else:
                depth += 1
                quote_depth += tag == "blockquote"
                keep = depth <= HTML_DEPTH_LIMIT and (
                    tag != "blockquote" or quote_depth <= BLOCKQUOTE_DEPTH_LIMIT
                )
            if keep:
                pieces.append(f"<{closing}{tag}>")
        pieces.append(text)
    return _cut("".join(pieces), HTML_LIMIT)


def html_to_text(html: str) -> str:
    """Readable plain text from HTML: lines and paragraphs as a mail client shows them,
    blockquotes as "> " lines, list items as "- " lines, table cells joined by " | ".

    The "> " lines matter: quoted history in HTML-only replies is then removed by the same
    rules as in plain-text replies. A fragment of plain words (most cells of a web form's
    table) is its own text and is returned as it is, without parsing.
    """
    if _PLAIN_FRAGMENT.fullmatch(html):
        return html
    return _convert_html(html)


def _convert_html(html: str) -> str:
    """`html_to_text` without its shortcut for plain fragments.

    lexbor (C, through selectolax) parses the bounded HTML; the elements that shape the text
    get marker characters before and after them, the document's text is taken in one call,
    and the markers become line breaks and quote prefixes in one pass over the text. Walking
    the document token by token in Python (html2text over html.parser's events, used before)
    cost three to four times as much: about a millisecond per HTML mail.
    """
    tree = LexborHTMLParser(_MARKER_CHARS.sub("", bound_html(html)))
    root = tree.body if tree.body is not None else tree.root
    if root is None:
        return ""
    for pre in root.css("pre"):  # its line breaks are the text's own
        pre.replace_with(_PARAGRAPH + (pre.text(deep=True) or "").replace("\n", _LINE) + _PARAGRAPH)
    for node in root.css(_SHAPING_SELECTOR):
        before, after = _SHAPING[node.tag or ""]
        node.insert_before(before)
        if after:
            node.insert_after(after)
    return _layout(root.text(deep=True, separator="", strip=False))


def _layout(marked: str) -> str:
    """Plain text from the document's text with `_convert_html`'s markers in it.

    A paragraph boundary asks for a blank line, given only between two lines of text (with
    the quote prefix the two share), so empty elements leave no gaps.
    """
    text = _HTML_WHITESPACE.sub(" ", marked.replace("\xa0", " "))
    lines: list[str] = []
    words: list[str] = []
    depth = last_depth = 0
    blank = False

    def end_line() -> bool:
        nonlocal blank, last_depth
        line = _CELL_RUN.sub(" | ", "".join(words).strip(" " + _CELL))
        words.clear()
        item = line.startswith(_ITEM)
        line = line.lstrip(_ITEM + " ")
        if not line:
            return False
        if item:
            line = f"- {line}"
        if blank and lines:
            lines.append(">" * min(depth, last_depth))
        lines.append(f"{'>' * depth} {line}" if depth else line)
        blank, last_depth = False, depth
        return True

    for piece in _MARKER.split(text):
        if piece == _LINE:
            end_line()
        elif piece == _BREAK:  # <br>: a second one in a row makes a blank line
            blank = not end_line() or blank
        elif piece == _ITEM:
            end_line()
            words.append(_ITEM)
        elif piece in (_PARAGRAPH, _QUOTE_OPEN, _QUOTE_CLOSE):
            end_line()
            blank = True
            if piece != _PARAGRAPH:
                depth = depth + 1 if piece == _QUOTE_OPEN else max(depth - 1, 0)
        else:
            words.append(piece)
    end_line()
    return "\n".join(lines)


def _filename(part: Message) -> str:
    """An attachment's name, "" when its (RFC 2231) parameters are broken.

    The name is a `filename` or `name` parameter, so headers without that word give none;
    most parts are so, and the stdlib would parse all of their parameters to find out.
    """
    if not any(
        "name" in str(part.get(header, "")).lower() for header in _NAMING_HEADERS
    ):
        return ""
    try:
        return clean_text(str(part.get_filename() or ""))[:500]
    except Exception:  # noqa: BLE001 - broken RFC 2231 parameters: no usable name
        return ""


def _is_attachment(part: Message) -> bool:
    """A text part the sender attached (a .txt or .html file) rather than wrote as the body."""
    disposition = (
        str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    )
    return disposition == "attachment" or (
        bool(_filename(part)) and disposition != "inline"
    )


def _part_bytes(part: Message) -> bytes:
    """A part's decoded bytes; an attached message is serialized back to bytes."""
    if part.get_content_type() == "message/rfc822" or part.is_multipart():
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return inner[0].as_bytes(policy=policy.compat32)
        return b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _attachment(part: Message, limit: int) -> AttachmentInfo:
    """Metadata always; the bytes only up to the store limit (the raw message keeps them all)."""
    data = _part_bytes(part)
    return AttachmentInfo(
        filename=_filename(part),
        content_type=part.get_content_type()[:200],
        size=len(data),
        content=data if len(data) <= limit else None,
    )


def _leaf_text(part: Message, body: Body, convert_html: bool = True) -> str:
    """A text part as text: charset recovered, HTML converted (and kept for form tables).

    HTML that a plain-text alternative makes redundant is only kept, not converted: the
    conversion is the costliest step of reading most mail.
    """
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        data = str(part.get_payload()).encode("utf-8", "surrogateescape")
    text, note = decode_bytes(data, part.get_content_charset())
    if note:
        body.notes.append(note)
    text = clean_text(text)
    if part.get_content_type() == "text/html":
        body.html.append(text)
        if not convert_html:
            return ""
        if len(text) > HTML_LIMIT:
            body.notes.append(
                f"HTML part of {len(text)} characters: only its start converted"
            )
        return html_to_text(text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _walk(part: Message, body: Body, limit: int, depth: int = 0, convert_html: bool = True) -> str:
    """Text of one MIME subtree; everything that is not body text becomes an attachment."""
    ctype = part.get_content_type()
    if part.is_multipart() and ctype != "message/rfc822":
        if depth >= MIME_DEPTH_LIMIT:
            body.notes.append(
                f"MIME nesting deeper than {MIME_DEPTH_LIMIT}: inner parts not read"
            )
            return ""
        children = [child for child in part.get_payload() if isinstance(child, Message)]
        if ctype == "multipart/alternative":
            return _alternative(children, body, limit, depth + 1)
        texts = [_walk(child, body, limit, depth + 1, convert_html) for child in children]
        return "\n\n".join(text for text in texts if text.strip())
    if ctype in _BODY_TYPES and not _is_attachment(part):
        return _leaf_text(part, body, convert_html)
    body.attachments.append(_attachment(part, limit))
    return ""


def _alternative(children: list[Message], body: Body, limit: int, depth: int) -> str:
    """Prefer the plain-text version unless it is empty; attachments of every version count.

    The plain versions are read first, so that the others' HTML is converted only when no
    plain version has text.
    """
    is_plain = [child.get_content_type() == "text/plain" for child in children]
    texts = {i: _walk(child, body, limit, depth) for i, child in enumerate(children) if is_plain[i]}
    plain = [text for text in texts.values() if text.strip()]
    for i, child in enumerate(children):
        if not is_plain[i]:
            texts[i] = _walk(child, body, limit, depth, convert_html=not plain)
    others = [texts[i] for i in range(len(children)) if texts[i].strip()]
    return plain[0] if plain else (others[-1] if others else "")


def extract_body(msg: Message, attachment_limit: int) -> Body:
    """The message's text (all inline text parts, HTML converted) and its attachments."""
    body = Body()
    body.text = _walk(msg, body, attachment_limit).strip()
    return body
