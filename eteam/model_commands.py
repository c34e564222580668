"""The model commands of `eteam`: train, evaluate and classify.

They work on any CSV with `text,label` columns, so the engine can be checked on public
benchmarks as well as on the bundled corpus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from classify.data import LabelledDataError, bundled_paths, read_csv, read_many
from classify.model import IntentModel, ModelFileError, evaluate
from eteam.cli_support import console, fail, settings_of


def train(
    ctx: typer.Context,
    data: Annotated[list[Path] | None, typer.Option(help="CSV with text,label columns (repeatable)")] = None,
    out: Annotated[Path | None, typer.Option(help="where to write the model (default: the active model)")] = None,
    oos_label: Annotated[str | None, typer.Option(help="label meaning out of scope")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print held-out metrics as JSON")] = False,
) -> None:
    """Train the intent model (bundled corpus by default) and save it with its thresholds.

    Example: eteam train --data my_labels.csv --out var/candidate.skops
    """
    settings = settings_of(ctx)
    try:
        labelled = read_many(data or bundled_paths())
    except (LabelledDataError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    model = IntentModel.train(labelled.texts, labelled.labels, oos_label=oos_label)
    target = out or settings.active_model_path
    model.save(target)
    if as_json:
        print(json.dumps({"model": str(target), "version": model.version, **model.meta.metrics}))
    else:
        metrics = model.meta.metrics
        console.print(
            f"Saved {target} ({model.version}): held-out accuracy {metrics['accuracy']:.3f}, "
            f"macro-F1 {metrics['macro_f1']:.3f}, coverage {metrics['coverage']:.3f} "
            f"at {metrics['accuracy_at_threshold']:.3f} accuracy."
        )


def evaluate_(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="CSV with text,label columns")],
    model_path: Annotated[Path | None, typer.Option("--model", help="model file (default: active)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
) -> None:
    """Measure a model on labelled data: accuracy, macro-F1, per label, coverage at threshold.

    Example: eteam evaluate --data ../shared/corpora/dev_intents.csv --json
    """
    settings = settings_of(ctx)
    try:
        model = IntentModel.load(model_path or settings.active_model_path)
        labelled = read_csv(data)
    except (ModelFileError, LabelledDataError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    report = evaluate(model, labelled.texts, labelled.labels)
    if as_json:
        print(json.dumps(report))
    else:
        console.print(
            f"n={report['n']} accuracy {report['accuracy']:.3f} macro-F1 {report['macro_f1']:.3f} "
            f"coverage {report['coverage']:.3f} accuracy@threshold {report['accuracy_at_threshold']:.3f}"
        )


def classify(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="the customer's text")],
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
    verdict = model.predict(text)
    result = {
        "intent": verdict.intent,
        "confidence": round(verdict.confidence, 4),
        "above_threshold": verdict.above_threshold,
        "runners_up": [[label, round(p, 4)] for label, p in verdict.runners_up],
    }
    if as_json:
        print(json.dumps(result))
    else:
        console.print(
            f"{verdict.intent} ({verdict.confidence:.2f}{'' if verdict.above_threshold else ', below threshold'})"
            f"; then {', '.join(f'{label} {p:.2f}' for label, p in verdict.runners_up)}"
        )
