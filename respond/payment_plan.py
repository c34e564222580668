"""Pay-plan schedules for the payment_arrangement reply, exact to the cent.

A customer who adds up the schedule we sent must land on their balance exactly, so money is
`Decimal` throughout, the regular installment is rounded down to the cent and the last
installment absorbs the remainder (rounding down keeps that last one from ever going
negative). The plan terms (down-payment percent, months, days to the first payment) are read
from the facts file the templates quote, so the numbers in the text and in the schedule
cannot drift apart.
"""

from __future__ import annotations

import calendar
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from respond.render import FACTS_FILE

CENT = Decimal("0.01")


@dataclass(frozen=True)
class PlanTerms:
    """One published option: percent down, number of monthly installments, days to pay the down payment."""

    option: int
    down_percent: Decimal
    months: int
    first_payment_days: int


@lru_cache(maxsize=1)
def _pay_plan_facts() -> dict[str, Any]:
    facts: dict[str, Any] = tomllib.loads(FACTS_FILE.read_text(encoding="utf-8"))["pay_plans"]
    return facts


def plan_terms(option: int) -> PlanTerms:
    """The terms of Option 1 or 2 as the facts file publishes them; ValueError for another option."""
    facts = _pay_plan_facts()
    section = facts.get(f"option_{option}")
    if section is None:
        raise ValueError(f"no pay-plan option {option}; the facts file lists options 1 and 2")
    return PlanTerms(
        option=option,
        down_percent=Decimal(str(section["down_percent"])),
        months=int(section["max_months"]),
        first_payment_days=int(facts["first_payment_days"]),
    )


@dataclass(frozen=True)
class Installment:
    """One monthly payment after the down payment."""

    n: int
    due: date
    amount: Decimal


@dataclass(frozen=True)
class Plan:
    """A computed plan: the down payment, then `installments`; their sum is the balance."""

    balance: Decimal
    option: int
    down_payment: Decimal
    first_due: date
    installments: tuple[Installment, ...]

    @property
    def total(self) -> Decimal:
        """Down payment plus every installment: always equal to the balance."""
        return self.down_payment + sum((i.amount for i in self.installments), Decimal(0))

    def as_template_context(self) -> dict[str, Any]:
        """The `plan` the payment_arrangement templates read: amounts as `$1,234.56`, dates ISO.

        `installment_amount` is the regular installment; the schedule shows the last one
        as it really is when rounding made it differ.
        """
        return {
            "balance": money(self.balance),
            "option": self.option,
            "down_payment": money(self.down_payment),
            "installment_count": len(self.installments),
            "installment_amount": money(self.installments[0].amount),
            "first_due": self.first_due.isoformat(),
            "schedule": [
                {"n": i.n, "due": i.due.isoformat(), "amount": money(i.amount)} for i in self.installments
            ],
        }


def money(amount: Decimal) -> str:
    """`$1,234.56`, the way the bill prints amounts."""
    return f"${amount:,.2f}"


def money_value(text: str) -> Decimal | None:
    """`$1,234.56` → Decimal("1234.56"); None when the text is not a positive amount."""
    digits = text.replace("$", "").replace(",", "").strip()
    try:
        value = Decimal(digits).quantize(CENT, rounding=ROUND_HALF_UP)
    except ArithmeticError:
        return None
    return value if value > 0 else None


def add_months(day: date, months: int) -> date:
    """Same day of the month `months` later, or that month's last day (Jan 31 → Feb 28)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def payment_plan(balance: Decimal, option: int, start: date) -> Plan:
    """The plan for a past-due `balance` enrolled on `start` under Option 1 or 2.

    The down payment (percent of the balance, rounded half-up to the cent) is due
    `first_payment_days` after `start`; the installments fall monthly after that date.
    ValueError for a balance that is not a positive amount in whole cents.
    """
    if balance <= 0 or balance != balance.quantize(CENT):
        raise ValueError(f"balance must be a positive amount in whole cents, got {balance}")
    terms = plan_terms(option)
    down = (balance * terms.down_percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    rest = balance - down
    regular = (rest / terms.months).quantize(CENT, rounding=ROUND_DOWN)
    first_due = start + timedelta(days=terms.first_payment_days)
    amounts = [regular] * (terms.months - 1) + [rest - regular * (terms.months - 1)]
    installments = tuple(
        Installment(n=n, due=add_months(first_due, n), amount=amount) for n, amount in enumerate(amounts, start=1)
    )
    return Plan(balance=balance, option=option, down_payment=down, first_due=first_due, installments=installments)
