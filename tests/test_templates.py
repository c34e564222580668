"""Every intent has its reply in both languages, and customer text stays data."""

import pytest

from respond.render import LANGUAGES, Renderer
from respond.routing import RoutingTable

INTENTS = sorted(RoutingTable.load().intents)
OUTAGE = {
    "id": "OUT-261123-07",
    "service": "Electric",
    "areas": "Van Nuys, Sherman Oaks",
    "cause": "Equipment failure",
    "estimated_restoration": "2026-11-23 20:00",
    "status": "Active",
}
PLAN = {
    "balance": "$600.00",
    "option": 1,
    "down_payment": "$90.00",
    "installment_count": 6,
    "installment_amount": "$85.00",
    "first_due": "2026-12-02",
    "schedule": [{"n": 1, "due": "2026-12-02", "amount": "$90.00"}],
}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_twenty_four_intents_are_routed() -> None:
    assert len(INTENTS) == 24


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("intent", [*INTENTS, "restoration_notice"])
def test_every_template_renders(renderer: Renderer, intent: str, lang: str) -> None:
    assert renderer.has_template(intent, lang), f"missing respond/templates/{lang}/{intent}.txt.j2"
    body = renderer.render(
        intent,
        lang,
        customer_name="Maria Lopez",
        sr_number="261123-000042",
        outage=OUTAGE if intent in ("outage", "restoration_notice") else None,
        plan=PLAN if intent == "payment_arrangement" else None,
    )
    assert "Maria Lopez" in body
    assert "None" not in body
    assert "1-800-DIAL-DWP" in body or "1-800-342-5397" in body


def test_spanish_reply_is_spanish(renderer: Renderer) -> None:
    body = renderer.render("billing_options", "es", customer_name="")
    assert "Estimado" in body
    assert "Dear" not in body


def test_sr_number_cited_in_service_request_acknowledgements(renderer: Renderer) -> None:
    table = RoutingTable.load()
    for intent, handling in table.intents.items():
        if handling.action != "service_request":
            continue
        for lang in LANGUAGES:
            body = renderer.render(intent, lang, sr_number="261123-000042")
            assert "261123-000042" in body, f"{lang}/{intent} does not cite the SR number"


def test_outage_reply_gives_restoration_time(renderer: Renderer) -> None:
    body = renderer.render("outage", "en", outage=OUTAGE)
    assert "2026-11-23 20:00" in body and "Equipment failure" in body


def test_customer_text_is_data_not_template(renderer: Renderer) -> None:
    hostile = "{{ config }}{% for x in range(10**9) %}x{% endfor %}"
    body = renderer.render("other_agency", "en", customer_name=hostile)
    assert hostile in body


@pytest.mark.parametrize(("lang", "example", "yours"), [
    ("en", "As an example, for a past-due balance of", "For your past-due balance of"),
    ("es", "A modo de ejemplo", "Para su saldo vencido de"),
])
def test_unverified_sender_never_told_their_balance(renderer: Renderer, lang: str, example: str, yours: str) -> None:
    unverified = renderer.render("payment_arrangement", lang, plan=PLAN, verified=False)
    assert example in unverified and yours not in unverified
    verified = renderer.render("payment_arrangement", lang, plan=PLAN, verified=True)
    assert yours in verified
