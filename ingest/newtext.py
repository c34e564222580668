"""The new part of a reply: what the customer wrote this time, without history or signature.

Classification must see the customer's words, not our own quoted reply or a phone's
"Sent from my iPhone". Each line is given a kind and the rules work on that sequence:

    t text   e empty   q quoted (">", "|", "XY>")   b marker of earlier mail ("On ... wrote:",
    "-----Original Message-----", a forwarded-message line, a From:/Sent:/To: header block)
    d delimiter ("-- ", "____", "* * *")   s mobile signature line ("Sent from my iPhone")

The rules follow discourse's email_reply_trimmer and are scored in tests/test_newtext.py
against discourse's, crisp's and talon's expected outputs (mean difflib ratio 0.99, 1.00
and 0.95). mail-parser-reply 1.36 scored 0.59 and 0.92 on the first two: it keeps quote
blocks after a "wrote:" line that the client wrapped, bare "> " blocks, dated markers
without a verb and most non-English markers, so it is not used here.
"""

from __future__ import annotations

import re

#: Text beyond this is not read: the new part of a reply is at its top.
INPUT_LIMIT = 100_000
#: A marker such as "On <date>, <name> <address> wrote:" may be wrapped over this many lines.
MARKER_SPAN = 6

_QUOTE = re.compile(r"^\s*(?:>|\|(?:\s|$)|[A-Za-z]{1,3}>(?:\s|$))")
_QUOTE_PREFIX = re.compile(r"^(?:\s*>)+\s?")
_DELIMITER = re.compile(r"^\s*(?:[-_=~+*—–]\s*){2,}$|^\s*\u1427\s*$")
_MOBILE_SIGNATURE = re.compile(
    r"^\s*[(<\[]*\s*(?:"
    r"(?:sent|envoyé|enviado|enviada|inviato|verzonden|verstuurd|skickat|sendt|wysłano|odesláno|gesendet)"
    r"\s+(?:from|depuis|de|à partir de|desde|do|da|dal|vanaf|van|von|met|mit|med|från|fra|z|via|with|using|by)\b"
    r"|von meinem\b|from my (?:iphone|ipad|android|mobile|phone|blackberry|samsung|galaxy)"
    r"|get (?:the )?\[?outlook\b|obtener outlook\b|scarica outlook\b|télécharger outlook\b"
    r"|diese nachricht wurde von\b|someone from mobile"
    r"|(?:從|从)我的.{0,30}(?:傳送|发送)"
    r").{0,100}$",
    re.IGNORECASE,
)
_SEPARATOR_WORDS = (
    r"original message|ursprüngliche nachricht|originalnachricht|mensaje original|message d'origine"
    r"|messaggio originale|oorspronkelijk bericht|originalmeddelande|oprindelig meddelelse"
    r"|mensagem original|wiadomość oryginalna|исходное сообщение|原始邮件|原始郵件|oprindelig besked"
    r"|forwarded message|begin forwarded message|mensaje reenviado|inicio del mensaje reenviado"
    r"|message transféré|début du message réexpédié|début du message transféré"
    r"|weitergeleitete nachricht|messaggio inoltrato|doorgestuurd bericht|mensagem encaminhada"
)
_SEPARATOR = re.compile(rf"^[\s>*_=-]*(?:{_SEPARATOR_WORDS})[\s*_=:-]*$", re.IGNORECASE)
_WROTE_WORDS = (
    r"wrote|writes|escribió|escribio|escreveu|a écrit|a ecrit|schrieb|ha scritto|scrisse"
    r"|schreef|geschreven|skrev|kirjoitti|napisał\(a\)|napisał|napisal|napsal\(a\)"
    r"|написал\(а\)|написала|написал|пише|写道|寫道|đã viết|sent"
)
_MARKER_TAIL = re.compile(rf"(?:[:：]|-{{2,}}|{_WROTE_WORDS})$", re.IGNORECASE)
#: How far from a line's end a `_MARKER_TAIL` match can start (the longest word, and one
#: more for a final newline), so only that much of a line needs testing.
_MARKER_TAIL_REACH = (
    max(len(word.replace("\\", "")) for word in _WROTE_WORDS.split("|")) + 1
)
# The lower-case words, case-sensitive, for lower-cased text (see _lowered_match_possible).
_MARKER_TAIL_LOWER = re.compile(_MARKER_TAIL.pattern)
_WROTE_WORD_LOWER = re.compile(_WROTE_WORDS)
# The characters that re.IGNORECASE matches to a letter of the words although str.lower()
# does not turn them into that letter; tests/test_newtext.py derives them from the words.
_IGNORECASE_ONLY = re.compile("[\u0130\u0131\u017f\u1c80-\u1c85]")
_WROTE = re.compile(
    rf"^(?=.*[\d@]).{{0,400}}?(?:{_WROTE_WORDS})(?:.{{0,90}}?[:：])?$"
    rf"|^-{{2,}}.{{0,300}}?(?:{_WROTE_WORDS}).{{0,30}}?-{{2,}}$",
    re.IGNORECASE,
)
# "30.09.2017, 18.30, "John Doe" <john@example.com>:" - a time and an address, no verb.
_ADDRESS_MARKER = re.compile(
    r"^(?=.*\b\d{1,2}[:.]\d{2}\b).{0,300}<[^<>\s]{1,200}@[^<>\s]{1,200}>\s*[:：]$"
)
_MARKER_OPENER = re.compile(
    r"^(?:-{2,}\s*)?(?:on|am|el|le|il|op|em|den|dnia|w dniu|dne|at|på|vào|в|у|在|\d{1,4})\b",
    re.IGNORECASE,
)
_DATE_MARKER = re.compile(
    r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b.{0,300}?(?:<[^<>\s]{1,200}@|GMT)"
)
_HEADER_NAMES = (
    r"from|sent|to|cc|bcc|subject|date|reply-to|de|enviado|para|asunto|fecha|von|gesendet|an"
    r"|betreff|datum|da|inviato|a|oggetto|data|risposta|envoyé|à|objet|van|verzonden|aan"
    r"|onderwerp|från|skickat|till|ämne|od|wysłano|do|temat|от|отправлено|кому|тема|fra|dato|til|emne"
    r"|发件人|发送时间|收件人|主题|寄件者|傳送時間|收件者|主旨"
)
_HEADER = re.compile(rf"^\s*[*_]*(?:{_HEADER_NAMES})[*_]*\s*[:：]", re.IGNORECASE)
_SENDER_OR_DATE_HEADER = re.compile(
    r"^\s*[*_]*(?:from|de|von|da|van|från|fra|od|от|发件人|寄件者|date|fecha|datum|data|dato|sent|enviado"
    r"|gesendet|envoyé|inviato|verzonden|skickat|wysłano|отправлено|发送时间|傳送時間)[*_]*\s*[:：]\s*\S",
    re.IGNORECASE,
)
_SIGNOFF = re.compile(
    r"^\s*(?:(?:best|kind|warm|warmest)(?: regards)?|regards|thanks|thank you|thanks again|many thanks"
    r"|cheers|sincerely|respectfully|saludos|atentamente|cordialmente|gracias|muchas gracias"
    r"|un saludo|mit freundlichen grüßen|cordialement)[\s,.!]*$",
    re.IGNORECASE,
)


def _lowered_match_possible(pattern: re.Pattern[str], text: str) -> bool:
    """Whether the case-insensitive version of `pattern` (lower-case words) can match `text`.

    A case-insensitive search tries every word at every character, and was most of the cost
    of reading a reply; the same search of lower-cased text skips ahead in C. The two agree
    except on the few characters that only re.IGNORECASE's rules match, so text holding one
    of those is always passed on to the case-insensitive pattern.
    """
    return bool(
        (not text.isascii() and _IGNORECASE_ONLY.search(text))
        or pattern.search(text.lower())
    )


def _marker_spans(lines: list[str]) -> dict[int, int]:
    """Start line -> end line (exclusive) of every "On <date>, <name> wrote:" sentence.

    Found from the line ending in "wrote:" backwards, so the sentence starts as late as
    possible; it is extended over wrapped lines that neither end a sentence nor open one.
    """
    bare = [_QUOTE_PREFIX.sub("", line).strip() for line in lines]
    spans: dict[int, int] = {}
    for end, line in enumerate(bare):
        if _DATE_MARKER.match(line):
            spans[end] = end + 1
            continue
        tail = line[-_MARKER_TAIL_REACH:]
        if not (
            _lowered_match_possible(_MARKER_TAIL_LOWER, tail)
            and _MARKER_TAIL.search(tail)
        ):
            continue
        for start in range(end, max(end - MARKER_SPAN, -1), -1):
            if not bare[start]:
                break
            joined = " ".join(piece for piece in bare[start : end + 1] if piece)
            wrote = _lowered_match_possible(_WROTE_WORD_LOWER, joined) and (
                _WROTE.match(joined)
            )
            if wrote or _ADDRESS_MARKER.match(joined):
                while (
                    start > 0
                    and start > end - MARKER_SPAN
                    and not _MARKER_OPENER.match(bare[start])
                ):
                    above = start - 1
                    while (
                        above > 0
                        and not bare[above]
                        and _MARKER_OPENER.match(bare[above - 1])
                    ):
                        above -= 1
                    if not bare[above] or bare[above].endswith((".", "!", "?")):
                        break
                    start = above
                spans[start] = end + 1
                break
    return spans


def _header_block_end(lines: list[str], start: int) -> int | None:
    """If a From:/Date:/To:/Subject: block starts at `start`, the index of the blank line ending it.

    `start` may be just past the last line (after a separator line). Every header line has
    a colon; most lines have none, and so need no test of the many header names.
    """
    first = lines[start] if start < len(lines) else ""
    if not (":" in first or "：" in first) or not _HEADER.match(first):
        return None
    end = start
    while end < len(lines) and lines[end].strip():
        end += 1
    headers = [line for line in lines[start:end] if _HEADER.match(line)]
    if not any(_SENDER_OR_DATE_HEADER.match(line) for line in headers):
        return None
    return (
        end if len(headers) >= 3 or (len(headers) >= 2 and end - start <= 3) else None
    )


def classify_lines(lines: list[str]) -> str:
    """One kind letter per line (see the module docstring)."""
    kinds = [""] * len(lines)
    markers = _marker_spans(lines)
    index = 0
    while index < len(lines):
        line = lines[index]
        blank = not line.strip()
        delimiter = not blank and _DELIMITER.match(line)
        end = None
        if not blank and not delimiter:
            end = _header_block_end(lines, index) or markers.get(index)
        if _SEPARATOR.match(line):
            end = _header_block_end(lines, index + 1) or index + 1
        if end is not None:
            kinds[index:end] = ["b"] * (end - index)
            index = end
            continue
        if blank:
            kinds[index] = "e"
        elif delimiter:
            kinds[index] = "d"
        elif _MOBILE_SIGNATURE.match(line):
            kinds[index] = "s"
        elif _QUOTE.match(line):
            kinds[index] = "q"
        else:
            kinds[index] = "t"
        index += 1
    # Text sandwiched between quoted lines is a long quoted line that a client wrapped.
    return re.sub(r"(?<=q)t+(?=q)", lambda run: "q" * len(run.group()), "".join(kinds))


def _is_inline_reply(kinds: str, marker: int) -> bool:
    """A marker followed by quotes and then fresh text: the customer answered between the lines."""
    after = kinds[marker:].lstrip("be")
    return after.startswith("q") and "t" in after.split("b", 1)[0]


def _drop_signoff(lines: list[str]) -> list[str]:
    """Drop a closing "Thanks,\\nMaria" block, unless it carries digits (a phone, an account number)."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    for position in filled[-5:-1]:
        tail = [lines[i].strip() for i in filled if i > position]
        if _SIGNOFF.match(lines[position]) and all(
            len(line) <= 40 and not re.search(r"\d", line) for line in tail
        ):
            return lines[:position] if position > filled[0] else lines
    return lines


def extract_new_text(text: str) -> str:
    """The new part of a plain-text (or HTML-converted) reply; "" when it is all quotation."""
    lines = [
        line.rstrip()
        for line in text[:INPUT_LIMIT]
        .replace("\r\n", "\n")
        .replace("\r", "\n")
        .split("\n")
    ]
    kinds = classify_lines(lines)
    first_text = kinds.find("t")
    if first_text < 0:
        quoted = [line for line, kind in zip(lines, kinds) if kind == "q"]
        return (
            "\n".join(quoted).strip()
            if any(_QUOTE_PREFIX.sub("", line).strip() for line in quoted)
            else ""
        )
    if "b" in kinds[:first_text]:
        # Bottom-posted reply or a bare forward: the new part starts at the first text.
        lines, kinds, first_text = lines[first_text:], kinds[first_text:], 0
    # Everything after a delimiter or a "Sent from my phone" line is signature or history.
    cut = min(
        (kinds.find(k, first_text) for k in "ds" if k in kinds[first_text:]),
        default=len(kinds),
    )
    pairs = [
        (line, kind) for line, kind in zip(lines[:cut], kinds[:cut]) if kind != "s"
    ]
    kinds = "".join(kind for _, kind in pairs)
    marker = kinds.find("b")
    if marker >= 0 and not _is_inline_reply(kinds, marker):
        pairs, kinds = pairs[:marker], kinds[:marker]
    end = len(kinds.rstrip("eqb"))
    kept = [line for line, kind in pairs[:end] if kind != "b"]
    return "\n".join(_drop_signoff(kept)).strip("\n").rstrip()
