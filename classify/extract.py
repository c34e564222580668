"""Facts pulled from customer text, PII detection, language, and the one masking function.

Routing and templates need the account number, ZIP and urgency; the CCB note and the
dashboard must never show a full SSN or card number. `mask_pii` is the single function every
place that shows or writes customer text uses, so a new PII kind is masked everywhere at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

# `re` tries a pattern that starts with a lookbehind at every position of the text, but jumps straight
# to the candidates of one that starts with a digit. So the number patterns match their first digit and
# only then look behind it: `\d(?<![\d-]\d)` is `(?<![\d-])\d`, "a digit not after a digit or -".
ACCOUNT_RE = re.compile(r"(\d(?<![\d-]\d)\d{9})(?![\d-])")
ZIP_RE = re.compile(r"(9(?<![\d-]9)[0-3]\d{3})(?:-\d{4})?(?![\d-])")
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
AMOUNT_RE = re.compile(r"\$\s?\d[\d,]*(?:\.\d{2})?")
SR_RE = re.compile(r"(\d(?<!\w\d)\d{5}-\d{6})\b")
SSN_RE = re.compile(r"(\d(?<!\d\d)\d{2})[- ]?(\d{2})[- ]?(\d{4})(?!\d)")
SSN_CONTEXT_RE = re.compile(r"\b(ssn|social|seguro social|s\.s\.n)\b", re.IGNORECASE)
SSN_LAST4_RE = re.compile(
    r"(?:last\s*(?:4|four)|ultimos?\s*(?:4|cuatro)|últimos?\s*(?:4|cuatro))"
    r"[^\d\n]{0,40}?(\d{4})(?!\d)",
    re.IGNORECASE,
)
CARD_RE = re.compile(r"\d(?<!\d\d)(?:[ -]?\d){12,18}(?!\d)")
ROUTING_RE = re.compile(r"(?i)\b(routing|aba|ruta)\b[^\d\n]{0,30}(\d{9})(?!\d)")
BANK_ACCOUNT_RE = re.compile(
    r"(?i)\b(bank account|checking account|savings account|acct|cuenta bancaria|cuenta de cheques)"
    r"\b[^\d\n]{0,30}(\d{6,17})(?!\d)"
)
URGENT_PATTERNS = {
    "no_water": re.compile(r"(?i)\b(no water|without water|sin agua|no tenemos agua|no hay agua)\b"),
    "medical": re.compile(
        r"(?i)\b(oxygen|dialysis|ventilator|medical equipment|life.support|cpap|oxigeno|oxígeno|"
        r"equipo medico|equipo médico)\b"
    ),
    "shutoff_date": re.compile(
        r"(?i)\b(shut ?off|disconnect(?:ion)?|corte|desconexi[oó]n|cortar)\b.{0,60}"
        r"\b(\d{1,2}/\d{1,2}|monday|tuesday|wednesday|thursday|friday|tomorrow|mañana|lunes|"
        r"martes|miercoles|miércoles|jueves|viernes)\b"
    ),
    "today": re.compile(r"(?i)\b(today|tonight|right now|hoy|ahora mismo|esta noche)\b"),
}
SPANISH_WORDS = frozenset(
    ["el", "la", "los", "las", "de", "del", "que", "y", "en", "por", "para", "con", "una", "un", "mi", "mis", "su", "es", "son", "está", "estoy", "tengo", "hola", "gracias", "cuenta", "factura", "luz", "agua", "servicio", "pagar", "pago", "quiero", "necesito", "puedo", "por", "favor", "cuando", "como", "pero", "muy", "también", "desde", "hace", "casa", "dirección", "nombre", "ayuda", "usted", "ustedes", "nos", "me", "se", "lo", "le", "ya", "no", "sí", "si", "ha", "han", "fue"]
)
ENGLISH_WORDS = frozenset(
    ["the", "a", "an", "and", "of", "to", "in", "for", "on", "with", "my", "is", "are", "was", "i", "we", "you", "your", "it", "this", "that", "have", "has", "bill", "account", "service", "water", "power", "please", "thanks", "thank", "can", "could", "would", "need", "want", "pay", "when", "how", "but", "very", "also", "from", "since", "home", "address", "name", "help", "our", "me", "be", "not", "do", "does"]
)
STREET_SUFFIXES = (
    "street|st|avenue|ave|av|boulevard|blvd|bl|drive|dr|road|rd|way|place|pl|lane|ln|court|ct|"
    "terrace|ter|parkway|pkwy|highway|hwy|circle|cir|trail|trl|square|sq|walk|row|alley|aly|loop|"
    "crescent|cres|plaza|plz"
)
STREET_PREFIXES = "avenida|calle|camino|paseo|via|vía"
LA_PLACES = (
    "los angeles|la|l\\.a\\.|van nuys|sherman oaks|studio city|north hollywood|no\\.? hollywood|"
    "panorama city|encino|tarzana|reseda|northridge|granada hills|chatsworth|canoga park|"
    "woodland hills|west hills|winnetka|sylmar|san pedro|wilmington|harbor city|venice|"
    "west hollywood|hollywood|echo park|silver lake|silverlake|koreatown|eagle rock|highland park|"
    "boyle heights|watts|westchester|playa del rey|playa vista|pacoima|sun valley|sunland|tujunga|"
    "mission hills|north hills|arleta|valley village|toluca lake|porter ranch|lake balboa|brentwood|"
    "westwood|pacific palisades|mar vista|palms|del rey|hyde park|lincoln heights|el sereno|"
    "mount washington|los feliz|atwater village|glassell park|cypress park|leimert park|"
    "baldwin hills|mid-city|mid city|hancock park|westlake|pico-union|chinatown|downtown|"
    "little tokyo|harbor gateway|shadow hills|lake view terrace|sawtelle|century city|"
    "south los angeles|south la|east hollywood|carthay|cheviot hills|beverlywood"
)
_UNIT = r"(?:,?\s*(?:apt\.?|apartment|unit|ste\.?|suite|spc\.?|space|depto\.?|departamento|#)\s*#?\s*[\w-]{1,6})"
_CITY = rf"(?:,?\s+(?:{LA_PLACES}))"
_STATE = r"(?:,?\s+(?:ca|calif\.?|california))"
_ZIP = r"(?:,?\s+9[0-3]\d{3}(?:-\d{4})?)"
_NAME_WORD = r"[a-z0-9][a-z0-9'.-]*"
ADDRESS_RE = re.compile(
    rf"(?P<number>\d(?<![\w$#/.,-]\d)\d{{0,5}}(?:-?[a-z](?![a-z]))?)\s+"
    rf"(?P<street>(?:(?:[nsew]\.?|north|south|east|west)\s+)?"
    rf"(?:(?:{_NAME_WORD}\s+){{1,3}}?(?:{STREET_SUFFIXES})\b\.?"
    rf"|(?:{STREET_PREFIXES})\s+(?:(?:de|del|de la|de las|de los|el|la|las|los)\s+)?{_NAME_WORD}"
    rf"(?:\s+{_NAME_WORD})?"
    # no street type, but a direction and a capitalised name: "1022 N Alvarado"
    rf"|(?:[nsew]\.?|north|south|east|west)\s+(?-i:[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)))"
    rf"(?P<rest>{_UNIT}?{_CITY}?{_STATE}?{_ZIP}?)(?![\w-])",
    re.IGNORECASE,
)
#: "Service Address: 9133 Cedros" or "address 9031 Sepulveda": a labelled address without a street type
LABELLED_ADDRESS_RE = re.compile(
    r"(?:\baddress|\bdirecci[oó]n|\bdomicilio)(?:\s+(?:is|es))?\s*:?\s*(?:at\s+|en\s+)?"
    r"(\d{1,6}\s+[A-Za-zÁÉÍÓÚÑáéíóúñ][\w'.#-]*(?:[ \t]+[\w'.#-]+){0,4})",
    re.IGNORECASE,
)
#: words that never belong to a street name: they mean the digits were a count or an amount
ADDRESS_STOPWORDS = frozenset(
    ["a", "an", "and", "the", "of", "to", "in", "on", "at", "for", "my", "our", "your", "his", "her", "their", "is", "was", "are", "were", "be", "been", "have", "has", "had", "i", "we", "you", "he", "she", "it", "they", "this", "that", "these", "those", "with", "from", "by", "or", "not", "no", "but", "if", "so", "than", "then", "per", "times", "days", "weeks", "months", "years", "dollars", "bucks", "kwh", "hcf", "gallons", "units", "people", "dogs", "cats", "bills", "y", "el", "los", "las", "un", "una", "de", "en", "con", "por", "para", "mi", "mis", "su", "sus", "es", "son", "fue", "que"]
)
MONTHS_EN = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
MONTHS_ES = "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre"
DATE_RE = re.compile(
    r"(?<![\w/$.-])(?:"
    r"\d{4}-\d{1,2}-\d{1,2}"  # ISO
    r"|(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])(?:/(?:\d{4}|\d{2}))?"  # m/d[/y]
    rf"|(?:{MONTHS_EN})\.?\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{MONTHS_EN})(?:,?\s+\d{{4}})?"
    rf"|(?:0?[1-9]|[12]\d|3[01])\s+de\s+(?:{MONTHS_ES})(?:\s+(?:de|del)\s+\d{{4}})?"
    r")(?![\w/-])",
    re.IGNORECASE,
)
METER_READ_RE = re.compile(
    r"(?:\bmeter\s+(?:read(?:ing)?s?|shows|says|displays|is\s+at|is\s+showing|dial)"
    r"|\bread(?:ing)?s?\s+(?:on|of|from|at)\s+(?:the|my)\s+meter"
    r"|\b(?:current|actual|present|today'?s)\s+read(?:ing)?"
    r"|\blectura(?:\s+(?:del|de mi|de el)\s+medidor)?"
    r"|\bmedidor\s+(?:marca|dice|indica|muestra|está en|esta en))"
    r"[^\n.!?$]{0,40}?(?<![\d/$.,-])(\d{3,7}(?:\.\d{1,2})?)(?![\d/%]|,\d)",
    re.IGNORECASE,
)
#: the words of a lowercased text: the letters `[a-záéíóúñü]` with IGNORECASE takes there ("ı" and "ſ"
#: are its i and s), spelled out so that `re` jumps from letter to letter instead of trying every position
WORD_RE = re.compile(r"[a-záéíóúñüıſ]+")
SENTENCE_RE = re.compile(r"[.!?¡¿\n]+")
SPANISH_LETTERS = frozenset("ñáéíóú¿¡")
SPANISH_LETTER_RE = re.compile(f"[{''.join(sorted(SPANISH_LETTERS))}]")
# (818) 555-0199, 818.555.0199, +1 818 555 0199, or + and 8 to 15 digits; not inside a longer run
PHONE_RE = re.compile(
    r"(?<![\w+\-])(?:(?:\+?1[\s.\-]?)?(?:\(\d{3}\)|\d{3})[\s.\-]?\d{3}[\s.\-]?\d{4}"
    r"|\+\d(?:[\s.\-]?\(?\d\)?){7,14})(?![\w\-])"
)
#: where PHONE_RE and DATE_RE can start: the first character of a number, with their lookbehind after it
#: as in the number patterns above; or, for a date, a month name, which begins with its abbreviation
PHONE_START_RE = re.compile(r"[\d(+](?<![\w+\-].)")
DATE_NUMBER_START_RE = re.compile(r"\d(?<![\w/$.-]\d)")
MONTH_STARTS = tuple(sorted({month[:3] for month in MONTHS_EN.split("|")}))
#: For each case-insensitive keyword pattern, what every match begins with, lowercased: the
#: literal start of each alternative. `re` tries such a pattern (it starts with `\b` or a letter
#: it must compare without case) at every position of the text; finding these strings in the
#: lowercased text and trying the pattern only where they occur is many times faster. A new
#: alternative needs its start here, and an example in tests/test_extract.py's KEYWORD_EXAMPLES.
KEYWORD_STARTS: dict[re.Pattern[str], tuple[str, ...]] = {
    SSN_LAST4_RE: ("last", "ultimo", "último"),
    ROUTING_RE: ("routing", "aba", "ruta"),
    BANK_ACCOUNT_RE: (
        "bank account", "checking account", "savings account", "acct", "cuenta bancaria", "cuenta de cheques"
    ),
    URGENT_PATTERNS["no_water"]: ("no water", "without water", "sin agua", "no tenemos agua", "no hay agua"),
    URGENT_PATTERNS["medical"]: (
        "oxygen", "dialysis", "ventilator", "medical equipment", "life", "cpap", "oxigeno", "oxígeno",
        "equipo medico", "equipo médico",
    ),
    URGENT_PATTERNS["shutoff_date"]: ("shut", "disconnect", "corte", "desconexi", "cortar"),
    URGENT_PATTERNS["today"]: ("today", "tonight", "right now", "hoy", "ahora mismo", "esta noche"),
    METER_READ_RE: ("meter", "read", "current", "actual", "present", "today", "lectura", "medidor"),
    LABELLED_ADDRESS_RE: ("address", "direcci", "domicilio"),
}
#: `re.IGNORECASE` takes "ı" and "İ" for i and "ſ" for s, but lowercasing keeps "ı" and "ſ" and makes
#: "İ" two characters; in a text holding one, keywords are not where the lowercased text shows them
CASE_FOLD_TRAPS = ("ı", "İ", "ſ")


class _PreparedText:
    """A text and its lowercased form, which all keyword searches of one call share.

    The keywords of KEYWORD_STARTS are found in the lowercased text, where a plain `str.find`
    does what would otherwise take a case-insensitive scan.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.lowered = text.lower()
        self.keywords_findable = not any(trap in text for trap in CASE_FOLD_TRAPS)

    def starts(self, prefixes: Iterable[str]) -> list[int]:
        """Where any of the lowercase `prefixes` occurs, ascending."""
        found: set[int] = set()
        for prefix in prefixes:
            index = self.lowered.find(prefix)
            while index >= 0:
                found.add(index)
                index = self.lowered.find(prefix, index + 1)
        return sorted(found)

    def keyword_matches(self, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        """`pattern.finditer` for a pattern of KEYWORD_STARTS, tried only where its keywords start."""
        if not self.keywords_findable:
            return list(pattern.finditer(self.text))
        return _matches_at(pattern, self.text, self.starts(KEYWORD_STARTS[pattern]))


def _matches_at(pattern: re.Pattern[str], text: str, starts: Iterable[int]) -> list[re.Match[str]]:
    """What `pattern.finditer(text)` finds, trying `pattern` only at `starts`.

    `starts` must be ascending and hold every index where a match could begin; a pattern
    none of whose matches is empty then finds exactly what a scan of every position finds.
    """
    found = []
    end = 0
    for start in starts:
        if start >= end and (match := pattern.match(text, start)) is not None:
            found.append(match)
            end = match.end()
    return found


@dataclass
class Facts:
    """Everything extracted from one message's text; stored as JSON on the message."""

    account_number: str | None = None
    zip: str | None = None
    service_address: str | None = None
    addresses: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    meter_reads: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    amounts: list[str] = field(default_factory=list)
    sr_numbers: list[str] = field(default_factory=list)
    urgency: list[str] = field(default_factory=list)
    pii: list[str] = field(default_factory=list)
    lang: str = "en"

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the message's `facts` column.

        Every field is a string, None or a list of strings, so copying the lists gives what
        `dataclasses.asdict` gives at a fraction of its cost (it copies recursively).
        """
        return {name: list(value) if isinstance(value, list) else value for name, value in vars(self).items()}


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in CARD_RE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits) and len(set(digits)) > 1:
            spans.append(match.span())
    return spans


def _ssn_spans(text: str) -> list[tuple[int, int]]:
    """Nine digits shaped like an SSN: dashed, or bare next to a word that says SSN."""
    spans = []
    for match in SSN_RE.finditer(text):
        raw = match.group()
        dashed = raw.count("-") == 2 or raw.count(" ") == 2
        context = text[max(0, match.start() - 40) : match.start()]
        if (dashed or SSN_CONTEXT_RE.search(context)) and match.group(1) not in ("000", "666"):
            spans.append(match.span())
    return spans


def _pii_spans(prepared: _PreparedText) -> dict[str, list[tuple[int, int]]]:
    found: dict[str, list[tuple[int, int]]] = {
        "ssn": _ssn_spans(prepared.text),
        "ssn_last4": [m.span(1) for m in prepared.keyword_matches(SSN_LAST4_RE)],
        "card": _card_spans(prepared.text),
        "bank": [m.span(2) for m in prepared.keyword_matches(ROUTING_RE)]
        + [m.span(2) for m in prepared.keyword_matches(BANK_ACCOUNT_RE)],
    }
    return {kind: spans for kind, spans in found.items() if spans}


def pii_spans(text: str) -> dict[str, list[tuple[int, int]]]:
    """Where each PII kind occurs; kinds are ssn, ssn_last4, card, bank."""
    return _pii_spans(_PreparedText(text))


def mask_pii(text: str) -> str:
    """Replace every PII digit run with `[KIND]`, keeping the last 4 digits of cards only."""
    spans = sorted(
        ((start, end, kind) for kind, found in pii_spans(text).items() for start, end in found),
        reverse=True,
    )
    masked = text
    last_start = len(text) + 1
    for start, end, kind in spans:
        if end > last_start:
            continue  # overlapping span already masked
        replacement = f"[{kind.upper()}]"
        if kind == "card":
            last4 = re.sub(r"\D", "", text[start:end])[-4:]
            replacement = f"[CARD ****{last4}]"
        masked = masked[:start] + replacement + masked[end:]
        last_start = start
    return masked


def _language_scores(words: list[str], has_spanish_letters: bool) -> tuple[int, int]:
    """(Spanish, English) evidence: function words, plus words with Spanish letters counted double.

    `has_spanish_letters` is whether the whole text has any; most texts have none, and then
    looking for them word by word would cost more than the rest of language detection.
    """
    spanish = sum(map(SPANISH_WORDS.__contains__, words))
    if has_spanish_letters:
        spanish += 2 * len([word for word in words if not SPANISH_LETTERS.isdisjoint(word)])
    return spanish, sum(map(ENGLISH_WORDS.__contains__, words))


def _language(lowered: str) -> str:
    sentence_votes = set()
    spanish_total = english_total = 0
    has_spanish_letters = SPANISH_LETTER_RE.search(lowered) is not None
    for sentence in SENTENCE_RE.split(lowered):
        spanish, english = _language_scores(WORD_RE.findall(sentence), has_spanish_letters)
        spanish_total += spanish
        english_total += english
        if spanish + english >= 2 and max(spanish, english) >= 2 * min(spanish, english) + 1:
            sentence_votes.add("es" if spanish > english else "en")
    if sentence_votes == {"es", "en"}:
        return "mixed"
    return "es" if spanish_total > english_total else "en"


def detect_language(text: str) -> str:
    """en, es or mixed: mixed when some sentences are clearly English and others Spanish.

    Customers often write one sentence in each language; judging sentence by sentence keeps
    a long Spanish paragraph with an English greeting Spanish, and a real mix mixed.
    """
    return _language(text.lower())


def _phones(text: str) -> list[str]:
    """Valid phone numbers, in national format: found by shape, judged by `phonenumbers`.

    `phonenumbers.PhoneNumberMatcher` tries every digit run of the text against every
    country's patterns, half a millisecond per message on web forms full of account numbers
    and dates; our customers write North American numbers or `+` international ones, so a
    pattern finds those shapes and the library only parses and validates them.
    """
    found = []
    starts = (start.start() for start in PHONE_START_RE.finditer(text))
    for match in _matches_at(PHONE_RE, text, starts):
        try:
            number = phonenumbers.parse(match.group(), "US")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            found.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    return found


def _address_matches(prepared: _PreparedText) -> list[re.Match[str]]:
    """Street addresses: house number, optional direction, street name and type, unit, city, ZIP."""
    found = []
    for match in ADDRESS_RE.finditer(prepared.text):
        words = re.findall(r"[a-záéíóúñü']+", match.group("street").lower())
        if any(word in ADDRESS_STOPWORDS for word in words[:-1]):
            continue
        found.append(match)
    for match in prepared.keyword_matches(LABELLED_ADDRESS_RE):
        if not any(f.start() <= match.start(1) < f.end() for f in found):
            found.append(match)
    return sorted(found, key=lambda m: m.start())


def _address_text(match: re.Match[str]) -> str:
    """The address as written, tidied; a labelled one ends before the first non-address word."""
    if match.re is LABELLED_ADDRESS_RE:
        words = match.group(1).split()
        kept = words[:2]
        for word in words[2:]:
            if word.lower().strip(".,") in ADDRESS_STOPWORDS:
                break
            kept.append(word)
        raw = " ".join(kept)
    else:
        raw = match.group()
    return " ".join(raw.replace(" ,", ",").split()).strip(" ,.;:")


def _emails(text: str) -> list[str]:
    if "@" not in text:
        return []
    seen: dict[str, None] = {}
    for email in EMAIL_RE.findall(text):
        seen.setdefault(email.rstrip(".-").lower(), None)
    return list(seen)


def _date_matches(prepared: _PreparedText) -> list[re.Match[str]]:
    """DATE_RE's matches, tried only where a date can start: a number or a month name.

    DATE_RE starts with a lookbehind and then a case-insensitive letter or a digit, so
    `re` alone would try it at every position of the text.
    """
    if not prepared.keywords_findable:
        return list(DATE_RE.finditer(prepared.text))
    numbers = [match.start() for match in DATE_NUMBER_START_RE.finditer(prepared.text)]
    return _matches_at(DATE_RE, prepared.text, sorted({*numbers, *prepared.starts(MONTH_STARTS)}))


def extract_facts(text: str) -> Facts:
    """All facts of one text; PII digit runs are excluded from the account and phone lists."""
    prepared = _PreparedText(text)
    pii = _pii_spans(prepared)
    blocked = [span for spans in pii.values() for span in spans]

    def clear(match: re.Match[str]) -> bool:
        return not any(s < match.end() and match.start() < e for s, e in blocked)

    accounts = [m.group(1) for m in ACCOUNT_RE.finditer(text) if clear(m)]
    zips = [m.group(1) for m in ZIP_RE.finditer(text) if clear(m)]
    address_matches = [m for m in _address_matches(prepared) if clear(m)]
    addresses = list(dict.fromkeys(_address_text(m) for m in address_matches))
    address_spans = [m.span() for m in address_matches]
    date_matches = _date_matches(prepared)
    dates = [m.group() for m in date_matches if clear(m)]
    taken = blocked + address_spans + [m.span() for m in date_matches]
    meter_reads = [
        m.group(1)
        for m in prepared.keyword_matches(METER_READ_RE)
        if not any(s < m.end(1) and m.start(1) < e for s, e in taken)
    ]
    urgency = [name for name, pattern in URGENT_PATTERNS.items() if prepared.keyword_matches(pattern)]
    return Facts(
        account_number=accounts[0] if accounts else None,
        zip=zips[-1] if zips else None,
        service_address=addresses[0] if addresses else None,
        addresses=addresses[:5],
        dates=list(dict.fromkeys(dates))[:10],
        meter_reads=list(dict.fromkeys(meter_reads))[:5],
        phones=[p for p in _phones(text) if re.sub(r"\D", "", p) not in accounts][:5],
        emails=_emails(text)[:5],
        amounts=AMOUNT_RE.findall(text)[:10],
        sr_numbers=SR_RE.findall(text)[:5],
        urgency=urgency,
        pii=sorted(pii),
        lang=_language(prepared.lowered),
    )
