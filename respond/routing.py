"""The routing table, read from `respond/routing.toml`, and the decision it makes for a message.

Routing is data so a lead can read and change it without code: ordered rules, first match
wins, and a per-intent table of default handling. Every decision names the rule that fired
and why, which the message keeps for the dashboard and `eteam messages --json`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROUTING_FILE = Path(__file__).parent / "routing.toml"
ACTIONS = frozenset(
    {"auto_reply", "service_request", "human", "triage", "suppress", "outage_update", "outage_link"}
)
CONDITIONS = frozenset({"kind", "below_threshold", "intent", "in_active_outage", "handling"})


class RoutingTableError(ValueError):
    """The routing file is malformed: a rule names an unknown action, condition or intent."""


@dataclass(frozen=True)
class IntentHandling:
    """How an intent is handled by default."""

    action: str
    queue: str
    reply: str = "auto"
    ccb: str = "none"
    urgent: bool = False


@dataclass(frozen=True)
class RouteFacts:
    """What routing may look at for one message."""

    kind: str
    intent: str | None
    below_threshold: bool
    in_active_outage: bool


@dataclass(frozen=True)
class Decision:
    """The outcome: what to do, where it waits, which rule decided and why."""

    action: str
    queue: str | None
    rule: str
    reason: str
    handling: IntentHandling | None


@dataclass(frozen=True)
class Rule:
    """One ordered rule of the table."""

    name: str
    when: dict[str, Any]
    reason: str
    action: str | None = None
    queue: str | None = None

    def matches(self, facts: RouteFacts, handling: IntentHandling | None) -> bool:
        """True when every condition of `when` holds for these facts."""
        for key, expected in self.when.items():
            if key == "kind" and facts.kind not in expected:
                return False
            if key == "intent" and facts.intent not in expected:
                return False
            if key == "below_threshold" and facts.below_threshold != expected:
                return False
            if key == "in_active_outage" and facts.in_active_outage != expected:
                return False
            if key == "handling" and (handling is None or handling.action not in expected):
                return False
        return True


class RoutingTable:
    """The parsed, validated routing file."""

    def __init__(self, rules: list[Rule], intents: dict[str, IntentHandling]) -> None:
        self.rules = rules
        self.intents = intents

    @classmethod
    def load(cls, path: Path = ROUTING_FILE) -> RoutingTable:
        """Read and validate the table, so a typo fails at start-up, not on a customer's mail."""
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        intents = {name: IntentHandling(**spec) for name, spec in data.get("intents", {}).items()}
        rules = [Rule(**spec) for spec in data.get("rule", [])]
        for rule in rules:
            unknown = set(rule.when) - CONDITIONS
            if unknown:
                raise RoutingTableError(f"{path}: rule {rule.name!r} tests unknown {sorted(unknown)}")
            if rule.action is not None and rule.action not in ACTIONS:
                raise RoutingTableError(f"{path}: rule {rule.name!r} has unknown action {rule.action!r}")
        for name, handling in intents.items():
            if handling.action not in ACTIONS:
                raise RoutingTableError(f"{path}: intent {name!r} has unknown action {handling.action!r}")
        if not rules or rules[-1].when:
            raise RoutingTableError(f"{path}: the last rule must match everything (`when = {{}}`)")
        return cls(rules, intents)

    def decide(self, facts: RouteFacts) -> Decision:
        """The first matching rule's decision; rules without an action defer to the intent."""
        handling = self.intents.get(facts.intent) if facts.intent else None
        for rule in self.rules:
            if not rule.matches(facts, handling):
                continue
            if rule.action is not None:
                return Decision(rule.action, rule.queue, rule.name, rule.reason, handling)
            if handling is None:
                return Decision("triage", "Triage", rule.name, f"no handling for intent {facts.intent!r}", None)
            return Decision(
                handling.action, handling.queue, rule.name, f"{rule.reason}: {facts.intent}", handling
            )
        raise AssertionError("the last rule matches everything")  # guaranteed by load()
