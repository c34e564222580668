"""Learning from agents: reclassifications, the data they make, and when a new model goes live.

An agent who reclassifies a message (`reclassify`) leaves three rows: a `Correction` (old and
new intent), a `Classification` with source "agent" and confidence 1.0 (the message's current
intent from then on), and a "reclassified" `Event` for the metrics. `corrections_data` turns
the newest correction of each message into training rows for `eteam train`; the text is
masked with `mask_pii` first, so no SSN or card digits end up in a model's vocabulary.

The promotion rule (`compare`): a newly trained model replaces the active one only when, on
the hold-out rows that neither model trained on, its macro-F1 and its accuracy above threshold
are both no worse than the active model's (within `TOLERANCE`, one disagreement in a few
hundred rows); otherwise it is kept beside as the candidate. The hold-out is the fixed 10% of
the CSV rows chosen by a hash of the text (`classify.data.in_holdout`), which no model trained
by `IntentModel.train` ever fits; agent corrections always train. `ModelRegistry` keeps
`var/models.json` with the active and candidate versions and their figures, for the dashboard.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from classify.data import LabelledData
from classify.extract import mask_pii
from classify.model import IntentModel, evaluate
from models import Classification, Correction, Event, Message

#: how much worse (absolute) a new model may score and still count as "no worse": noise allowance
TOLERANCE = 0.005
AGENT_MODEL_VERSION = "agent"


class CorrectionError(ValueError):
    """A reclassification that cannot be stored (no such message, empty intent)."""


def current_intent(session: Session, message_id: int) -> str | None:
    """The intent of the message's newest Classification row, or None when it has none."""
    return session.scalar(
        select(Classification.intent)
        .where(Classification.message_id == message_id)
        .order_by(Classification.created_at.desc(), Classification.id.desc())
        .limit(1)
    )


def reclassify(
    session: Session, message_id: int, new_intent: str, user_id: int | None = None
) -> Correction:
    """Record an agent's reclassification of a message; the caller commits.

    Stores the Correction (old intent from the newest Classification), a Classification with
    source "agent" and confidence 1.0, and an Event(kind="reclassified").
    """
    new_intent = (new_intent or "").strip()
    if not new_intent or len(new_intent) > 64:
        raise CorrectionError(f"intent must be 1-64 characters, got {new_intent!r}")
    if session.get(Message, message_id) is None:
        raise CorrectionError(f"no message with id {message_id}")
    old_intent = current_intent(session, message_id)
    correction = Correction(
        message_id=message_id, old_intent=old_intent, new_intent=new_intent, user_id=user_id
    )
    session.add(correction)
    session.add(
        Classification(
            message_id=message_id,
            intent=new_intent,
            confidence=1.0,
            runners_up=[],
            model_version=AGENT_MODEL_VERSION,
            source="agent",
        )
    )
    session.flush()
    session.add(
        Event(
            kind="reclassified",
            message_id=message_id,
            user_id=user_id,
            data={"old_intent": old_intent, "new_intent": new_intent, "correction_id": correction.id},
        )
    )
    session.flush()
    return correction


def corrections_data(session: Session) -> LabelledData:
    """One training row per corrected message: its (masked) text and its newest correction.

    The text is what the classifier read: the new text, else the whole text, else the subject.
    """
    rows = session.execute(
        select(Correction.message_id, Correction.new_intent)
        .order_by(Correction.message_id, Correction.created_at, Correction.id)
    ).all()
    newest: dict[int, str] = {}
    for message_id, intent in rows:
        newest[message_id] = intent  # later rows overwrite earlier ones
    data = LabelledData([], [])
    if not newest:
        return data
    messages = session.execute(
        select(Message.id, Message.new_text, Message.text, Message.subject)
        .where(Message.id.in_(list(newest)))
        .order_by(Message.id)
    ).all()
    for message_id, new_text, text, subject in messages:
        body = (new_text or text or subject or "").strip()
        if body:
            data.texts.append(mask_pii(body))
            data.labels.append(newest[message_id])
    return data


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing a new model with the active one on shared hold-out rows."""

    promote: bool
    reason: str
    candidate: dict[str, Any]
    active: dict[str, Any] | None


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in ("n", "accuracy", "macro_f1", "coverage", "accuracy_at_threshold") if k in report}


def compare(
    candidate: IntentModel,
    active: IntentModel | None,
    holdout: LabelledData,
    tolerance: float = TOLERANCE,
) -> Comparison:
    """Whether `candidate` may replace `active`, judged on `holdout` (rows neither trained on).

    No worse means: macro-F1 and accuracy above threshold both at least the active model's
    minus `tolerance`. Without an active model, or without hold-out rows, the candidate wins.
    """
    if not holdout.texts:
        figures = _figures(candidate.meta.metrics)
        return Comparison(True, "no hold-out rows to compare on", figures, None)
    new = _figures(evaluate(candidate, holdout.texts, holdout.labels))
    if active is None:
        return Comparison(True, "no active model", new, None)
    old = _figures(evaluate(active, holdout.texts, holdout.labels))
    worse = [
        f"{key} {new[key]:.4f} < {old[key]:.4f}"
        for key in ("macro_f1", "accuracy_at_threshold")
        if new[key] < old[key] - tolerance
    ]
    if worse:
        return Comparison(False, "worse than the active model on the hold-out: " + "; ".join(worse), new, old)
    return Comparison(
        True,
        f"no worse on {new['n']} hold-out rows (macro-F1 {new['macro_f1']:.4f} vs {old['macro_f1']:.4f}, "
        f"accuracy@threshold {new['accuracy_at_threshold']:.4f} vs {old['accuracy_at_threshold']:.4f})",
        new,
        old,
    )


def holdout_note(active: IntentModel | None, candidate: IntentModel) -> str | None:
    """A warning when the active model may have trained on the candidate's hold-out rows."""
    if active is None:
        return None
    rule = active.meta.holdout.get("rule")
    if rule != candidate.meta.holdout.get("rule") or active.meta.holdout.get("fraction") != candidate.meta.holdout.get("fraction"):
        return (
            "the active model was not trained with the same hold-out rule, so it may have seen "
            "some hold-out rows; the comparison favours it"
        )
    return None


class ModelRegistry:
    """`var/models.json`: the active and candidate models' versions, paths, figures and notes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any]:
        """The registry, or an empty one when the file is missing or unreadable."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"active": None, "candidate": None, "history": []}
        if not isinstance(data, dict):
            return {"active": None, "candidate": None, "history": []}
        data.setdefault("active", None)
        data.setdefault("candidate", None)
        data.setdefault("history", [])
        return data

    def record(self, role: str, model: IntentModel, path: Path, figures: dict[str, Any], reason: str) -> dict[str, Any]:
        """Store `model` as the active or candidate entry (promotion clears the candidate)."""
        if role not in ("active", "candidate"):
            raise ValueError(role)
        data = self.read()
        entry = {
            **self._describe(model, path),
            "holdout": figures,
            "reason": reason,
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        data[role] = entry
        if role == "active":
            data["candidate"] = None
        data["history"] = [*data["history"], {"role": role, "version": model.version, "at": entry["recorded_at"], "reason": reason}][-50:]
        self._write(data)
        return entry

    def refresh_active(self, model: IntentModel, path: Path, figures: dict[str, Any]) -> None:
        """Update the active entry's hold-out figures (measured beside a new candidate)."""
        data = self.read()
        entry = data.get("active") or {}
        if entry.get("version") != model.version:
            entry = {**self._describe(model, path), "reason": "active before the registry recorded it"}
        entry["holdout"] = figures
        entry["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        data["active"] = entry
        self._write(data)

    @staticmethod
    def _describe(model: IntentModel, path: Path) -> dict[str, Any]:
        """What identifies a model in the registry: version, file, features, training data size."""
        return {
            "version": model.version,
            "path": str(path),
            "features": model.meta.features,
            "trained_at": model.meta.trained_at,
            "training_rows": model.meta.training_rows,
            "corrections": model.meta.extra_rows,
        }

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
