"""Facts, PII and language from customer text; masking hides every PII kind."""

from classify.extract import detect_language, extract_facts, luhn_valid, mask_pii


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
