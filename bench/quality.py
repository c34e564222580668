"""Benchmark: intent quality on our hold-out, the shared dev set and CLINC150.

For each engine (`default`: TF-IDF plus word vectors distilled from the bundled
multilingual-e5-small, the production engine; `tfidf`: TF-IDF alone, the previous default;
`default+e5-small`: plus that encoder's sentence embeddings):

* ours: trained on the bundled corpus as `eteam train` does; the figures are on the fixed 10%
  hash hold-out that the model never fitted (thresholds from out-of-fold predictions).
* dev: that model on ../shared/corpora/dev_intents.csv (evaluation only; bar macro-F1 >= 0.92).
* clinc150: trained on CLINC150's train split (150 intents + `oos`), per-intent and
  out-of-scope thresholds picked on val, figures reported on val (bar: in-scope accuracy >= 93.5%
  with out-of-scope recall >= 50%; Larson et al. 2019: SVM 91.0, MLP 93.5, BERT 96.9).

    python bench/quality.py --json
    python bench/quality.py --engines default --json        # the production engine only
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: make the packages importable

from classify.data import bundled_paths, read_csv, read_many
from classify.model import WORD_VECTORS, IntentModel, evaluate
from eteam.settings import Settings

CORPORA = REPO.parent / "shared" / "corpora"
SUMMARY_KEYS = ("n", "accuracy", "macro_f1", "coverage", "accuracy_at_threshold", "in_scope_accuracy", "oos_recall")
BARS = {"dev_macro_f1": 0.92, "clinc150_in_scope_accuracy": 0.935, "clinc150_oos_recall": 0.50}


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of an `evaluate` report (per-label detail left out)."""
    return {key: report[key] for key in SUMMARY_KEYS if key in report}


#: engine name -> (sentence encoder, word-vector encoder) for `IntentModel.train`
ENGINES: dict[str, tuple[str | None, str | None]] = {
    "default": (None, WORD_VECTORS),
    "tfidf": (None, None),
    "default+e5-small": ("e5-small", WORD_VECTORS),
}


def ours_and_dev(embeddings: str | None, word_vectors: str | None, corpora: Path, vector_cache: Path) -> dict[str, Any]:
    """Train on the bundled corpus; hold-out figures, and the dev set when present."""
    data = read_many(bundled_paths())
    started = time.perf_counter()
    model = IntentModel.train(
        data.texts, data.labels, embeddings=embeddings, word_vectors=word_vectors, vector_cache=vector_cache
    )
    result: dict[str, Any] = {
        "ours_holdout": {**summary(model.meta.metrics), "training_seconds": round(time.perf_counter() - started, 1)},
    }
    dev_path = corpora / "dev_intents.csv"
    if dev_path.is_file():
        dev = read_csv(dev_path)
        result["dev"] = summary(evaluate(model, dev.texts, dev.labels))
    else:
        result["dev"] = {"skipped": f"{dev_path} is absent"}
    return result


def clinc150(embeddings: str | None, word_vectors: str | None, corpora: Path, vector_cache: Path) -> dict[str, Any]:
    """Train on train, pick thresholds on val, report val (the issue's protocol)."""
    folder = corpora / "intents" / "clinc150"
    if not (folder / "train.csv").is_file():
        return {"skipped": f"{folder} is absent"}
    train, val = read_csv(folder / "train.csv"), read_csv(folder / "val.csv")
    started = time.perf_counter()
    model = IntentModel.train(
        train.texts,
        train.labels,
        oos_label="oos",
        holdout_texts=val.texts,
        holdout_labels=val.labels,
        embeddings=embeddings,
        word_vectors=word_vectors,
        vector_cache=vector_cache,
    )
    seconds = time.perf_counter() - started
    return {
        **summary(evaluate(model, val.texts, val.labels)),
        "oos_threshold": round(model.meta.oos_threshold, 4),
        "training_seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help=f"comma-separated: {', '.join(ENGINES)}"
    )
    parser.add_argument("--skip-clinc", action="store_true", help="leave CLINC150 out")
    parser.add_argument("--corpora", type=Path, default=CORPORA, help="the shared corpora folder")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    vector_cache = Settings().vector_cache
    figures: dict[str, Any] = {"cores": os.cpu_count(), "bars": BARS}
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        if engine not in ENGINES:
            raise SystemExit(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
        embeddings, word_vectors = ENGINES[engine]
        result = ours_and_dev(embeddings, word_vectors, args.corpora, vector_cache)
        if not args.skip_clinc:
            result["clinc150"] = clinc150(embeddings, word_vectors, args.corpora, vector_cache)
        clinc = result.get("clinc150", {})
        result["meets_bars"] = {
            "dev": result["dev"].get("macro_f1", 0) >= BARS["dev_macro_f1"],
            "clinc150": (
                clinc.get("in_scope_accuracy", 0) >= BARS["clinc150_in_scope_accuracy"]
                and clinc.get("oos_recall", 0) >= BARS["clinc150_oos_recall"]
            )
            if "in_scope_accuracy" in clinc
            else None,
        }
        figures[engine] = result
        if not args.json:
            print(engine, json.dumps(result, indent=2), flush=True)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
