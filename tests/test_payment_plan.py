"""Pay plans add up to the balance to the cent, follow the published terms, and render."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from respond.payment_plan import add_months, payment_plan
from respond.render import Renderer

START = date(2026, 11, 24)


def test_option_1_is_15_percent_down_then_six_months() -> None:
    plan = payment_plan(Decimal("600.00"), 1, START)
    context = plan.as_template_context()
    assert context == {
        "balance": "$600.00",
        "option": 1,
        "down_payment": "$90.00",
        "installment_count": 6,
        "installment_amount": "$85.00",
        "first_due": "2026-12-01",
        "schedule": [
            {"n": 1, "due": "2027-01-01", "amount": "$85.00"},
            {"n": 2, "due": "2027-02-01", "amount": "$85.00"},
            {"n": 3, "due": "2027-03-01", "amount": "$85.00"},
            {"n": 4, "due": "2027-04-01", "amount": "$85.00"},
            {"n": 5, "due": "2027-05-01", "amount": "$85.00"},
            {"n": 6, "due": "2027-06-01", "amount": "$85.00"},
        ],
    }


def test_option_2_last_installment_absorbs_rounding() -> None:
    plan = payment_plan(Decimal("1234.57"), 2, START)
    # 25% of 1234.57 = 308.6425 → 308.64; 925.93 / 8 = 115.74125 → 115.74 seven times, last 115.75.
    assert plan.down_payment == Decimal("308.64")
    assert [i.amount for i in plan.installments] == [Decimal("115.74")] * 7 + [Decimal("115.75")]
    assert plan.as_template_context()["balance"] == "$1,234.57"
    assert plan.total == Decimal("1234.57")


def test_month_ends_clamp() -> None:
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)


@pytest.mark.parametrize("bad", [Decimal("0"), Decimal("-5.00"), Decimal("10.005")])
def test_refuses_amounts_that_are_not_whole_cents(bad: Decimal) -> None:
    with pytest.raises(ValueError):
        payment_plan(bad, 1, START)


def test_refuses_unknown_option() -> None:
    with pytest.raises(ValueError, match="option 3"):
        payment_plan(Decimal("100.00"), 3, START)


@given(
    cents=st.integers(min_value=1, max_value=10_000_000),
    option=st.sampled_from([1, 2]),
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31)),
)
def test_payments_sum_to_the_balance(cents: int, option: int, start: date) -> None:
    balance = Decimal(cents).scaleb(-2)
    plan = payment_plan(balance, option, start)
    amounts = [plan.down_payment, *(i.amount for i in plan.installments)]
    assert sum(amounts, Decimal(0)) == balance
    assert all(a >= 0 and a == a.quantize(Decimal("0.01")) for a in amounts)
    assert len(plan.installments) == (6 if option == 1 else 8)
    assert start < plan.first_due <= start + timedelta(days=7)
    dues = [plan.first_due, *(i.due for i in plan.installments)]
    assert dues == sorted(set(dues))
    regular = plan.installments[0].amount
    assert regular <= plan.installments[-1].amount < regular + Decimal("0.01") * len(plan.installments)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_template_renders_the_schedule(lang: str) -> None:
    context = payment_plan(Decimal("1234.57"), 2, START).as_template_context()
    body = Renderer().render("payment_arrangement", lang, customer_name="Maria Lopez", plan=context, verified=True)
    assert "$308.64" in body and "2026-12-01" in body
    assert "8. 2027-08-01: $115.75" in body


def test_money_value_reads_customer_amounts() -> None:
    from respond.payment_plan import money_value

    assert money_value("$1,234.56") == Decimal("1234.56")
    assert money_value("$ 80") == Decimal("80.00")
    assert money_value("$0") is None
    assert money_value("$abc") is None
