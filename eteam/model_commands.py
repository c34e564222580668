"""The model commands of `eteam`: train, evaluate and classify.

They work on any CSV with `text,label` columns, so the engine can be checked on public
benchmarks as well as on the bundled corpus. `train` also learns from agent corrections in the
configured database and activates the new model only when it is no worse than the active one on
hold-out rows neither trained on (`classify.corrections.compare`); otherwise it keeps it beside
the active model as the candidate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from classify.corrections import ModelRegistry, compare, corrections_data, holdout_note
from classify.data import (
    LabelledData,
    LabelledDataError,
    bundled_paths,
    read_csv,
    read_many,
    split_holdout,
)
from classify.model import IntentModel, ModelFileError, evaluate
from eteam.cli_support import console, err_console, fail, settings_of
from eteam.settings import Settings
from models.db import make_engine, make_session_factory


def load_corrections(settings: Settings) -> tuple[LabelledData, str]:
    """Agent corrections from the configured database, and a note on what was found.

    A database that does not exist yet (or is not migrated) is skipped with a note: a fresh
    install trains on the CSV rows alone.
    """
    empty = LabelledData([], [])
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:" or not Path(database).is_file():
            return empty, f"no database at {database or settings.database_url} yet: no corrections used"
    engine = None
    try:
        engine = make_engine(settings.database_url)
        with make_session_factory(engine)() as session:
            data = corrections_data(session)
    except SQLAlchemyError as exc:
        reason = str(exc).splitlines()[0][:160]
        return empty, f"corrections skipped: database not readable ({reason})"
    finally:
        if engine is not None:
            engine.dispose()
    return data, f"{len(data.texts)} agent correction(s) included"


def _summary(metrics: dict[str, Any]) -> str:
    if not metrics:
        return "no hold-out rows"
    return (
        f"hold-out n={metrics.get('n')}: accuracy {metrics.get('accuracy', 0):.3f}, "
        f"macro-F1 {metrics.get('macro_f1', 0):.3f}, coverage {metrics.get('coverage', 0):.3f} "
        f"at {metrics.get('accuracy_at_threshold', 0):.3f} accuracy"
    )


def train(
    ctx: typer.Context,
    data: Annotated[list[Path] | None, typer.Option(help="CSV with text,label columns (repeatable)")] = None,
    out: Annotated[
        Path | None, typer.Option(help="write the model here and skip the promotion check")
    ] = None,
    oos_label: Annotated[str | None, typer.Option(help="label meaning out of scope")] = None,
    embeddings: Annotated[
        str | None, typer.Option(help="add sentence embeddings (e5-small): better, ~50x slower")
    ] = None,
    corrections: Annotated[
        bool, typer.Option("--corrections/--no-corrections", help="include agent corrections from the database")
    ] = True,
    force: Annotated[bool, typer.Option(help="activate the new model even if it scores worse")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the outcome and hold-out metrics as JSON")] = False,
) -> None:
    """Train the intent model (bundled corpus plus agent corrections by default).

    The new model becomes active only if it is no worse than the active one
    (macro-F1 and accuracy above threshold, on hold-out rows neither trained
    on); otherwise it is kept as var/candidate.skops. var/models.json records
    both for the dashboard.

    Example: eteam train --data my_labels.csv --out var/candidate.skops
    """
    settings = settings_of(ctx)
    try:
        labelled = read_many(data or bundled_paths())
    except (LabelledDataError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    if corrections:
        extra, note = load_corrections(settings)
        known = set(labelled.labels)
        kept = [(t, label) for t, label in zip(extra.texts, extra.labels, strict=True) if label in known]
        if len(kept) < len(extra.texts):
            note += f"; {len(extra.texts) - len(kept)} skipped (intent not among the data's labels)"
            extra = LabelledData([t for t, _ in kept], [label for _, label in kept])
    else:
        extra, note = LabelledData([], []), "agent corrections not used (--no-corrections)"
    if not as_json:
        err_console.print(note)
    try:
        model = IntentModel.train(
            labelled.texts,
            labelled.labels,
            oos_label=oos_label,
            extra_texts=extra.texts,
            extra_labels=extra.labels,
            embeddings=embeddings,
            vector_cache=settings.vector_cache,
        )
    except (ValueError, RuntimeError) as exc:
        raise fail(str(exc)) from exc
    metrics = model.meta.metrics
    if out is not None:
        model.save(out)
        outcome: dict[str, Any] = {"model": str(out), "role": "file", "promoted": False, "reason": "--out given"}
    else:
        outcome = _promote_or_keep(settings, model, split_holdout(labelled)[1], force)
    outcome.update({"version": model.version, "corrections": len(extra.texts), "note": note})
    if as_json:
        print(json.dumps({**outcome, **metrics}))
        return
    console.print(f"Saved {outcome['model']} ({model.version}): {_summary(metrics)}.")
    if out is None:
        console.print(("Activated: " if outcome["promoted"] else "Kept as candidate: ") + outcome["reason"])


def _promote_or_keep(settings: Settings, model: IntentModel, holdout: LabelledData, force: bool) -> dict[str, Any]:
    active_path = settings.active_model_path
    candidate_path = settings.var_dir / "candidate.skops"
    registry = ModelRegistry(settings.var_dir / "models.json")
    active: IntentModel | None = None
    notes: list[str] = []
    if active_path.exists():
        try:
            active = IntentModel.load(active_path)
        except ModelFileError as exc:
            notes.append(f"the active model could not be read ({exc}), so it is replaced")
    if active is not None and set(active.labels) != set(model.labels):
        comparison = compare(model, None, holdout)
        promote = force
        reason = (
            "its labels differ from the active model's; use --out PATH to keep it elsewhere "
            "or --force to replace the active model"
        )
    else:
        note = holdout_note(active, model)
        if note:
            notes.append(note)
        comparison = compare(model, active, holdout)
        promote = comparison.promote or force
        reason = comparison.reason + (" (--force)" if force and not comparison.promote else "")
    reason = "; ".join([reason, *notes])
    if promote:
        model.save(active_path)
        registry.record("active", model, active_path, comparison.candidate, reason)
        return {"model": str(active_path), "role": "active", "promoted": True, "reason": reason,
                "holdout": comparison.candidate, "active_holdout": comparison.active}
    model.save(candidate_path)
    registry.record("candidate", model, candidate_path, comparison.candidate, reason)
    if active is not None and comparison.active is not None:
        registry.refresh_active(active, active_path, comparison.active)
    return {"model": str(candidate_path), "role": "candidate", "promoted": False, "reason": reason,
            "holdout": comparison.candidate, "active_holdout": comparison.active}


def evaluate_(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="CSV with text,label columns")],
    model_path: Annotated[Path | None, typer.Option("--model", help="model file (default: active)")] = None,
    oos_label: Annotated[
        str | None, typer.Option(help="label meaning out of scope (default: the model's own)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
) -> None:
    """Measure a model on labelled data: accuracy, macro-F1, per label, coverage at threshold.

    With an out-of-scope label (the model's, or --oos-label) also in-scope accuracy and
    out-of-scope recall.

    Example: eteam evaluate --data ../shared/corpora/dev_intents.csv --json
    """
    settings = settings_of(ctx)
    try:
        model = IntentModel.load(model_path or settings.active_model_path)
        labelled = read_csv(data)
    except (ModelFileError, LabelledDataError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    if oos_label is not None and oos_label != model.meta.oos_label:
        if model.meta.oos_label is not None:
            err_console.print(
                f"note: the model was trained with out-of-scope label {model.meta.oos_label!r}; "
                f"reporting with {oos_label!r}"
            )
        model.meta.oos_label = oos_label
    report = evaluate(model, labelled.texts, labelled.labels)
    if as_json:
        print(json.dumps(report))
    else:
        line = (
            f"n={report['n']} accuracy {report['accuracy']:.3f} macro-F1 {report['macro_f1']:.3f} "
            f"coverage {report['coverage']:.3f} accuracy@threshold {report['accuracy_at_threshold']:.3f}"
        )
        if "in_scope_accuracy" in report:
            line += f" in-scope accuracy {report['in_scope_accuracy']:.3f} OOS recall {report['oos_recall']:.3f}"
        console.print(line)


def classify(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="the customer's text")],
    topic: Annotated[str | None, typer.Option(help="the web form's Topic, a weak hint")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False,
) -> None:
    """Show the intent, confidence and runners-up for one text.

    Example: eteam classify "My bill doubled this month, can someone check it?"
    """
    settings = settings_of(ctx)
    try:
        model = IntentModel.load(settings.active_model_path)
    except ModelFileError as exc:
        raise fail(str(exc)) from exc
    verdict = model.predict(text, topic)
    result = {
        "intent": verdict.intent,
        "confidence": round(verdict.confidence, 4),
        "above_threshold": verdict.above_threshold,
        "runners_up": [[label, round(p, 4)] for label, p in verdict.runners_up],
        "model_version": model.version,
    }
    if as_json:
        print(json.dumps(result))
    else:
        console.print(
            f"{verdict.intent} ({verdict.confidence:.2f}{'' if verdict.above_threshold else ', below threshold'})"
            f"; then {', '.join(f'{label} {p:.2f}' for label, p in verdict.runners_up)}"
        )
