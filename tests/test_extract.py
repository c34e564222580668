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
