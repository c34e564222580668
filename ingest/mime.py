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
from datetime import UTC, datetime
from email import policy
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

import charset_normalizer
import html2text

#: Longest header value kept; longer values are junk or attacks, not information.
HEADER_LIMIT = 2000
#: HTML beyond this is not read at all.
RAW_HTML_LIMIT = 1024 * 1024
#: Cleaned HTML (no attributes, scripts or styles) beyond this is not converted:
#: html.parser and html2text are linear but pure Python (5-10 us a token), so this bounds
#: hostile HTML to well under a second while holding some 60 KB of ordinary mail's text.
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
_PARTIAL_TAG = re.compile(r"<[^<>]*\Z")
_ENTITY_RUN = re.compile(r"(?:&#?\w{0,10};?\s*){32,}")
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*+)([^<>]*+)>")
_BODY_TYPES = ("text/plain", "text/html")
_SURROGATE = re.compile("[\udc80-\udcff]")
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
    if _SURROGATE.search(value):
        raw = value.encode("utf-8", "surrogateescape")
        value = decode_bytes(raw, None)[0]
    return value.replace("\x00", "")


def parse_bytes(raw: bytes) -> Message:
    """The MIME structure, read leniently: compat32 records defects instead of raising."""
    return BytesParser(policy=policy.compat32).parsebytes(raw)


def raw_header_values(msg: Message, name: str) -> list[str]:
    """The unparsed values of every header called `name`, top (newest hop) first.

    Values are cut at a few times the kept length: the stdlib's structured header parser
    is superlinear on huge address lists, and nothing past the cut is kept anyway.
    """
    wanted = name.lower()
    return [
        str(value)[: 4 * HEADER_LIMIT]
        for key, value in msg.raw_items()
        if key.lower() == wanted
    ]


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
    return re.sub(r"\r?\n[ \t]*", " ", value).strip()


def _is_plain(value: str) -> bool:
    """ASCII without encoded words: nothing to decode, so the slow parser can be skipped."""
    return value.isascii() and "=?" not in value


def decode_header_value(name: str, raw: str) -> str:
    """A header's value as readable text, whatever its encoding, capped in length."""
    if _is_plain(raw):
        return clean_text(_unfold(raw))[:HEADER_LIMIT]
    try:
        text = str(policy.default.header_fetch_parse(name, raw))
    except Exception:  # noqa: BLE001 - the stdlib header parser has crash bugs on junk
        text = _decode_header_by_hand(_unfold(raw))
    return clean_text(_unfold(text))[:HEADER_LIMIT]


def header_text(msg: Message, name: str) -> str:
    """The first (topmost) `name` header, decoded; "" when absent."""
    values = raw_header_values(msg, name)
    return decode_header_value(name, values[0]) if values else ""


def header_addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address header; junk entries are skipped."""
    values = raw_header_values(msg, name)
    if not values:
        return []
    pairs: list[tuple[str, str]] = []
    if _is_plain(values[0]):
        pairs = getaddresses([_unfold(values[0])])
    else:
        try:
            parsed = policy.default.header_fetch_parse(name, values[0])
            pairs = [(a.display_name, a.addr_spec) for a in parsed.addresses]
        except Exception:  # noqa: BLE001 - fall back to the permissive compat parser below
            pairs = []
    if not any("@" in addr for _, addr in pairs):
        pairs = getaddresses([_decode_header_by_hand(_unfold(values[0]))])
    return [
        (clean_text(display)[:HEADER_LIMIT], clean_text(addr).strip("<> ")[:320])
        for display, addr in pairs
        if addr and addr.strip("<> ")
    ]


def header_date(msg: Message) -> datetime | None:
    """The Date header as an aware datetime (UTC when the zone is unknown); None when unusable."""
    values = raw_header_values(msg, "Date")
    if not values:
        return None
    try:
        value = parsedate_to_datetime(_unfold(values[0]))
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
    """The first `limit` characters, without a tag cut in half at the end."""
    return html if len(html) <= limit else _PARTIAL_TAG.sub("", html[:limit])


def bound_html(html: str) -> str:
    """Cut HTML down to what is safe and quick to parse: the meaning, under hard bounds.

    Comments, scripts and styles go; tags lose their attributes (nothing downstream reads
    them, and Outlook's inline styles are most of its bytes); tags past the nesting limits
    go (their text stays), since deep nesting makes HTML5 tree builders quadratic and
    multiplies "> " prefixes; long runs of entities collapse to a space. Linear passes.
    """
    html = _cut(html, RAW_HTML_LIMIT)
    html = _ENTITY_RUN.sub(" ", _STRAY_LT.sub("&lt;", _DROPPED_HTML.sub(" ", html)))
    depth = quote_depth = 0
    pieces: list[str] = []
    last = 0
    for match in _TAG.finditer(html):
        pieces.append(html[last : match.start()])
        last = match.end()
        closing, tag = match.group(1), match.group(2).lower()
        if tag in _VOID_ELEMENTS or match.group(3).endswith("/"):
            pieces.append(f"<{tag}>")
            continue
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
    pieces.append(html[last:])
    return _cut("".join(pieces), HTML_LIMIT)


def html_to_text(html: str) -> str:
    """Readable text from HTML, keeping paragraphs and turning blockquotes into "> " lines.

    The "> " lines matter: quoted history in HTML-only replies is then removed by the same
    rules as in plain-text replies.
    """
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_links = True
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    safe = bound_html(html)
    try:
        text = converter.handle(safe)
    except Exception:  # noqa: BLE001 - html.parser can choke on junk; tags stripped instead
        text = re.sub(r"<[^<>]*+>", " ", safe)
    text = re.sub(r"[ \t]+\n", "\n", text.replace("\xa0", " "))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _filename(part: Message) -> str:
    """An attachment's name, "" when its (RFC 2231) parameters are broken."""
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
