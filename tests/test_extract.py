"""Facts, PII and language from customer text; masking hides every PII kind."""

import dataclasses
import random
import re
from collections.abc import Iterable, Iterator
from typing import Any

from classify.extract import (
    ACCOUNT_RE,
    ADDRESS_RE,
    BANK_ACCOUNT_RE,
    CARD_RE,
    DATE_RE,
    KEYWORD_STARTS,
    LABELLED_ADDRESS_RE,
    METER_READ_RE,
    PHONE_RE,
    PHONE_START_RE,
    ROUTING_RE,
    SR_RE,
    SSN_LAST4_RE,
    SSN_RE,
    URGENT_PATTERNS,
    ZIP_RE,
    _date_matches,
    _matches_at,
    _PreparedText,
    detect_language,
    extract_facts,
    luhn_valid,
    mask_pii,
)


def test_account_zip_phone_amount() -> None:
    facts = extract_facts(
        "Account 1234567890 at 6234 Van Nuys Blvd, Van Nuys CA 91401. Bill was $412.77, "
        "call me at (818) 555-0199."
    )
    assert facts.account_number == "1234567890"
    assert facts.zip == "91401"
    assert facts.amounts == ["$412.77"]
    assert facts.phones == ["(818) 555-0199"]


def test_pii_kinds_detected_and_masked() -> None:
    text = (
        "My SSN is 123-45-6789, the last 4 of my social are 4321, card 4111 1111 1111 1111, "
        "routing 122000661 and checking account 000123456789."
    )
    facts = extract_facts(text)
    assert facts.pii == ["bank", "card", "ssn", "ssn_last4"]
    masked = mask_pii(text)
    for secret in ("123-45-6789", "4321", "4111 1111 1111 1111", "122000661", "000123456789"):
        assert secret not in masked
    assert "[CARD ****1111]" in masked


def test_non_luhn_digits_are_not_a_card() -> None:
    assert not luhn_valid("4111111111111112")
    assert "card" not in extract_facts("order 4111 1111 1111 1112").pii


def test_account_number_is_not_pii() -> None:
    assert extract_facts("my account number is 1234567890").pii == []


def test_urgency_flags() -> None:
    facts = extract_facts("We have no water since this morning and my mother uses oxygen, please today")
    assert {"no_water", "medical", "today"} <= set(facts.urgency)


def test_language() -> None:
    assert detect_language("Hola, no tengo luz desde ayer en mi casa, por favor ayuda") == "es"
    assert detect_language("Hi, my power has been out since yesterday, please help") == "en"
    assert (
        detect_language("Hello, my bill is too high this month. Por favor necesito ayuda con mi cuenta y la factura")
        == "mixed"
    )


def test_service_address_with_unit_city_and_zip() -> None:
    facts = extract_facts("Please start service at 8120 Sepulveda Blvd apt 7, Panorama City CA 91402 on Dec 1.")
    assert facts.service_address == "8120 Sepulveda Blvd apt 7, Panorama City CA 91402"
    assert facts.zip == "91402"
    assert extract_facts("Moving to 1120 W 30th St, 90007 next week").service_address == "1120 W 30th St, 90007"
    assert extract_facts("gate code for 5550 Lankershim Blvd #204 is 1234").service_address == "5550 Lankershim Blvd #204"
    assert extract_facts("the house at 1022 N Alvarado has no water").service_address == "1022 N Alvarado"
    assert extract_facts("mi dirección es 1234 Calle Sol, Los Angeles").service_address == "1234 Calle Sol, Los Angeles"
    assert extract_facts("Service Address: 9133 Cedros\nZIP: 91402").service_address == "9133 Cedros"


def test_moving_gives_every_address_first_one_is_service() -> None:
    facts = extract_facts("Stop service at 3410 Motor Ave and start it at 16800 Ventura Blvd Unit 210, Encino.")
    assert facts.addresses == ["3410 Motor Ave", "16800 Ventura Blvd Unit 210, Encino"]
    assert facts.service_address == "3410 Motor Ave"


def test_counts_and_amounts_are_not_addresses() -> None:
    for text in (
        "I paid 200 for the first street light",
        "we have 2 dogs in the back way",
        "There were 15 people in line on Main St",
        "My bill was $412 at the Main St office",
    ):
        assert extract_facts(text).addresses == [], text


def test_dates_in_english_and_spanish() -> None:
    facts = extract_facts("Move in 11/30, closing on December 3rd, lease signed 2025-11-02, paid Nov 28")
    assert facts.dates == ["11/30", "December 3rd", "2025-11-02", "Nov 28"]
    assert extract_facts("me mudo el 3 de diciembre y pagué el 1 de enero de 2026").dates == [
        "3 de diciembre",
        "1 de enero de 2026",
    ]
    # fractions of digits that are not dates
    assert extract_facts("account 1234567890, card ending 4242, 13/45 units").dates == []


def test_meter_reads() -> None:
    assert extract_facts("The meter reads 04512 today").meter_reads == ["04512"]
    assert extract_facts("meter reading today (11/24) is 48213").meter_reads == ["48213"]
    assert extract_facts("My meter reading: 1058 kWh, the bill says 1300").meter_reads == ["1058"]
    assert extract_facts("La lectura del medidor es 04512 hoy").meter_reads == ["04512"]
    assert extract_facts("el medidor marca 73210").meter_reads == ["73210"]
    # a meter number, an address and an amount are not reads
    assert extract_facts("my meter number is 123456").meter_reads == []
    assert extract_facts("meter read request for 5001 Lincoln Blvd").meter_reads == []
    assert extract_facts("meter reading says I owe $1250").meter_reads == []


def test_emails_lower_cased_and_deduplicated() -> None:
    facts = extract_facts("Write to Juan.P@Gmail.com. or juan.p@gmail.com, cc: ops-team@ladwp.example")
    assert facts.emails == ["juan.p@gmail.com", "ops-team@ladwp.example"]


def test_pii_digits_never_become_facts() -> None:
    facts = extract_facts("meter reads 123-45-6789 per my SSN 123-45-6789 and card 4111 1111 1111 1111")
    assert facts.meter_reads == [] and facts.account_number is None and facts.phones == []
    assert "123-45-6789" not in mask_pii("meter reads 123-45-6789, SSN 123-45-6789")


def test_facts_json_keeps_old_keys_and_adds_new() -> None:
    keys = set(extract_facts("hello").as_json())
    assert {"account_number", "zip", "phones", "emails", "amounts", "sr_numbers", "urgency", "pii", "lang"} <= keys
    assert {"service_address", "addresses", "dates", "meter_reads"} <= keys


def _found(matches: Iterable[re.Match[str]]) -> list[tuple[tuple[int, int], tuple[Any, ...]]]:
    return [(match.span(), match.groups()) for match in matches]


def _random_texts(count: int, vocabulary: list[str], seed: int) -> Iterator[str]:
    """Words in any case, numbers of every shape the patterns look for, and separators; now and
    then with a letter that `re.IGNORECASE` and `str.lower` disagree on."""
    rng = random.Random(seed)
    numbers = ["4111 1111 1111 1111", "123-45-6789", "(818) 555-0199", "+44 20 7946 0958", "11/30", "2025-11-02",
               "91401-1234", "123456-654321", "1234567890", "$412.77", "3rd", "4", "04512", "122000661"]
    separators = [" ", " ", " ", "\n", ", ", ". ", "-", "/", ":", "$", "#", "(", ")", "+", "'", "@", "_", ""]
    for _ in range(count):
        pieces = []
        for _ in range(rng.randint(1, 30)):
            if rng.random() < 0.3:
                piece = rng.choice(numbers) if rng.random() < 0.5 else str(rng.randint(0, 10 ** rng.randint(1, 12)))
            else:
                piece = rng.choice([str.lower, str.upper, str.title])(rng.choice(vocabulary))
                if rng.random() < 0.02:
                    at = rng.randint(0, len(piece))
                    piece = piece[:at] + rng.choice("ıİſK") + piece[at:]
            pieces.append(piece + rng.choice(separators))
        yield "".join(pieces)


def test_fast_searches_find_what_a_full_scan_finds() -> None:
    """The number patterns look behind their first digit instead of before it, and the keyword, date
    and phone patterns are tried only where they can start: each must find exactly what the plain
    pattern finds by trying every position, on texts made of the patterns' own words."""
    lookbehind_first = {
        ACCOUNT_RE: re.compile(r"(?<![\d-])(\d{10})(?![\d-])"),
        ZIP_RE: re.compile(r"(?<![\d-])(9[0-3]\d{3})(?:-\d{4})?(?![\d-])"),
        SR_RE: re.compile(r"\b(\d{6}-\d{6})\b"),
        SSN_RE: re.compile(r"(?<!\d)(\d{3})[- ]?(\d{2})[- ]?(\d{4})(?!\d)"),
        CARD_RE: re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)"),
        ADDRESS_RE: re.compile(
            ADDRESS_RE.pattern.replace(
                r"(?P<number>\d(?<![\w$#/.,-]\d)\d{0,5}", r"(?<![\w$#/.,-])(?P<number>\d{1,6}"
            ),
            ADDRESS_RE.flags,
        ),
    }
    assert lookbehind_first[ADDRESS_RE].pattern.startswith("(?<!")
    sources = [*KEYWORD_STARTS, DATE_RE, ADDRESS_RE]
    vocabulary = sorted({word for pattern in sources for word in re.findall(r"[a-záéíóúñ]+", pattern.pattern)})
    vocabulary += [start for starts in KEYWORD_STARTS.values() for start in starts] + ["today's", "life-support"]
    for text in _random_texts(1500, vocabulary, seed=20251125):
        for fast, plain in lookbehind_first.items():
            assert _found(fast.finditer(text)) == _found(plain.finditer(text)), (fast.pattern, text)
        prepared = _PreparedText(text)
        for pattern in KEYWORD_STARTS:
            found = _found(prepared.keyword_matches(pattern))
            assert found == _found(pattern.finditer(text)), (pattern.pattern, text)
        assert _found(_date_matches(prepared)) == _found(DATE_RE.finditer(text)), text
        phone_starts = (match.start() for match in PHONE_START_RE.finditer(text))
        assert _found(_matches_at(PHONE_RE, text, phone_starts)) == _found(PHONE_RE.finditer(text)), text


KEYWORD_EXAMPLES: dict[re.Pattern[str], list[str]] = {
    SSN_LAST4_RE: [
        "last 4 of my ssn 1234", "Last four: 1234", "ultimos 4 1234", "últimos cuatro 1234", "ultimo 4: 1234",
    ],
    ROUTING_RE: ["routing 122000661", "ABA: 122000661", "ruta 122000661"],
    BANK_ACCOUNT_RE: [
        "bank account 12345678", "checking account 12345678", "savings account 12345678", "acct 12345678",
        "cuenta bancaria 12345678", "cuenta de cheques 12345678",
    ],
    URGENT_PATTERNS["no_water"]: ["no water", "without water", "sin agua", "no tenemos agua", "no hay agua"],
    URGENT_PATTERNS["medical"]: [
        "oxygen", "dialysis", "ventilator", "medical equipment", "life support", "cpap", "oxigeno", "oxígeno",
        "equipo medico", "equipo médico",
    ],
    URGENT_PATTERNS["shutoff_date"]: [
        "shutoff monday", "shut off 11/30", "disconnection tomorrow", "disconnect friday", "corte el lunes",
        "desconexión mañana", "desconexion viernes", "cortar el jueves",
    ],
    URGENT_PATTERNS["today"]: ["today", "tonight", "right now", "hoy", "ahora mismo", "esta noche"],
    METER_READ_RE: [
        "meter reads 04512", "meter shows 04512", "meter is at 04512", "meter dial 04512",
        "reading on the meter is 04512", "reads from my meter: 04512", "current reading 04512", "actual read 04512",
        "present reading 04512", "today's reading 04512", "todays read 04512", "lectura 04512",
        "lectura del medidor 04512", "medidor marca 04512", "medidor está en 04512",
    ],
    LABELLED_ADDRESS_RE: [
        "address: 9133 Cedros", "dirección 9133 Cedros", "direccion es 9133 Cedros", "domicilio en 9133 Cedros",
    ],
}


def test_every_way_a_keyword_pattern_starts_is_in_keyword_starts() -> None:
    """A keyword pattern is tried only where one of its KEYWORD_STARTS occurs, so an alternative
    whose start is missing there would never match: one example per alternative, and a new
    alternative needs its start in KEYWORD_STARTS and an example here."""
    assert set(KEYWORD_EXAMPLES) == set(KEYWORD_STARTS)
    for pattern, examples in KEYWORD_EXAMPLES.items():
        for example in examples:
            for text in (example, f"({example.upper()}).", f"Hi. {example.title()}\n"):
                matches = _found(pattern.finditer(text))
                assert matches, (pattern.pattern, text)
                assert _found(_PreparedText(text).keyword_matches(pattern)) == matches, (pattern.pattern, text)
    for text in ("May 3", "SEPT. 5", "on december 3rd", "Jan 1, 2026", "paid 28 nov", "3 de diciembre"):
        assert _found(_date_matches(_PreparedText(text))) == _found(DATE_RE.finditer(text)) != [], text


def test_letters_ignorecase_and_lower_disagree_on_still_match() -> None:
    """`re` reads "ſ" as s and "ı" or "İ" as i without case; a text holding one is scanned in full."""
    assert extract_facts("ſhut off on monday, no water").urgency == ["no_water", "shutoff_date"]
    assert extract_facts("the laſt 4 of my social: 4321").pii == ["ssn_last4"]
    assert extract_facts("Routıng 122000661").pii == ["bank"]
    assert extract_facts("İ moved in on DEC 3").dates == ["DEC 3"]


def test_facts_json_is_a_deep_copy_of_every_field() -> None:
    facts = extract_facts(
        "Account 1234567890, 123 Main St, Los Angeles, CA 90012, call (213) 555-0199 or "
        "maria@example.com; my SSN is 123-45-6789 and I owe $120.50 by 11/30/2026 or power is cut off today."
    )
    stored = facts.as_json()
    assert stored == dataclasses.asdict(facts)
    assert all(stored[name] is not value for name, value in vars(facts).items() if isinstance(value, list))
