"""The routing table decides by data, and every decision names its rule and reason."""

from pathlib import Path

import pytest

from respond.routing import RouteFacts, RoutingTable, RoutingTableError


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return RoutingTable.load()


def facts(**overrides: object) -> RouteFacts:
    base = {"kind": "customer", "intent": "billing_options", "below_threshold": False, "in_active_outage": False}
    return RouteFacts(**{**base, **overrides})  # type: ignore[arg-type]


def test_template_intent_is_answered(table: RoutingTable) -> None:
    decision = table.decide(facts())
    assert (decision.action, decision.queue, decision.rule) == ("auto_reply", "Billing", "intent-default")


def test_low_confidence_goes_to_triage(table: RoutingTable) -> None:
    decision = table.decide(facts(below_threshold=True))
    assert (decision.action, decision.queue) == ("triage", "Triage")
    assert "threshold" in decision.reason


def test_automatic_mail_is_never_answered(table: RoutingTable) -> None:
    for kind in ("auto", "bounce"):
        assert table.decide(facts(kind=kind, intent=None)).action == "suppress"


def test_outage_report_inside_active_outage_is_linked(table: RoutingTable) -> None:
    assert table.decide(facts(intent="outage", in_active_outage=True)).action == "outage_link"
    outside = table.decide(facts(intent="outage"))
    assert (outside.action, outside.queue) == ("service_request", "Outage")


def test_service_request_and_human_intents(table: RoutingTable) -> None:
    assert table.decide(facts(intent="high_bill")).action == "service_request"
    shutoff = table.decide(facts(intent="shutoff_notice"))
    assert shutoff.action == "human" and shutoff.handling is not None and shutoff.handling.urgent


def test_bad_table_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "routing.toml"
    path.write_text('[[rule]]\nname = "x"\nwhen = {}\nreason = "r"\naction = "explode"\n')
    with pytest.raises(RoutingTableError, match="unknown action"):
        RoutingTable.load(path)
