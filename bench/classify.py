"""Benchmark: intent model training time, batched throughput and one-message latency.

The issue's bar on the 2-core machine: at least 5,000 messages/s batched and under 5 ms for one
message. This trains the production model on the bundled corpus (timed, as `eteam train` does
it), saves and reloads it (timed), then classifies the corpus's own customer messages: in
batches of `--batch` (as `eteam process` does), with and without a web-form Topic, and one at a
time (p50/p95 over `--singles` calls after a warm-up).

    python bench/classify.py --json
    python bench/classify.py --tfidf-only --json            # the previous default, for comparison
    python bench/classify.py --embeddings e5-small --messages 2000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: make the packages importable

from classify.data import bundled_paths, read_many
from classify.model import WORD_VECTORS, IntentModel
from eteam.settings import Settings

TOPICS = ["Billing", "Outage", "Other", "Start/Stop Service", "Programs", "Website", None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embeddings", help="sentence encoder to add (e5-small); default none")
    parser.add_argument(
        "--tfidf-only", action="store_true", help="leave out the distilled word vectors (the old default)"
    )
    parser.add_argument("--messages", type=int, default=20_000, help="messages to classify in batches")
    parser.add_argument("--batch", type=int, default=1_000, help="batch size (default 1000)")
    parser.add_argument("--singles", type=int, default=1_000, help="one-message calls to time")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    data = read_many(bundled_paths())
    started = time.perf_counter()
    model = IntentModel.train(
        data.texts,
        data.labels,
        embeddings=args.embeddings,
        word_vectors=None if args.tfidf_only else WORD_VECTORS,
        vector_cache=Settings().vector_cache,
    )
    training_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="eteam-bench-") as tmp:
        path = Path(tmp) / "model.skops"
        model.save(path)
        size_mb = path.stat().st_size / 1e6
        started = time.perf_counter()
        model = IntentModel.load(path)
        load_seconds = time.perf_counter() - started

    # fresh strings (a suffix per copy) so no cache anywhere can serve a repeat
    pool = data.texts
    texts = [f"{pool[i % len(pool)]} #{i // len(pool)}" for i in range(args.messages)]
    texts_topics = [f"{pool[i % len(pool)]} @{i // len(pool)}" for i in range(args.messages)]
    topics = [TOPICS[i % len(TOPICS)] for i in range(args.messages)]
    model.predict_many(texts[: args.batch])  # warm-up
    started = time.perf_counter()
    for i in range(0, len(texts), args.batch):
        model.predict_many(texts[i : i + args.batch])
    batched = len(texts) / (time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(0, len(texts), args.batch):
        model.predict_many(texts_topics[i : i + args.batch], topics[i : i + args.batch])
    batched_topics = len(texts_topics) / (time.perf_counter() - started)

    singles = [f"{pool[i % len(pool)]} ~{i}" for i in range(args.singles + 50)]
    for text in singles[:50]:
        model.predict(text)
    latencies = []
    for i, text in enumerate(singles[50:]):
        started = time.perf_counter()
        model.predict(text, topic=TOPICS[i % len(TOPICS)])
        latencies.append(time.perf_counter() - started)
    ms = np.asarray(latencies) * 1000

    figures = {
        "features": model.meta.features,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "training_rows": model.meta.training_rows,
        "training_seconds": round(training_seconds, 2),
        "model_mb": round(size_mb, 2),
        "load_seconds": round(load_seconds, 3),
        "messages": len(texts),
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "batched_per_s": round(batched, 1),
        "batched_with_topic_per_s": round(batched_topics, 1),
        "single_p50_ms": round(float(np.percentile(ms, 50)), 3),
        "single_p95_ms": round(float(np.percentile(ms, 95)), 3),
        "bar_batched_per_s": 5000,
        "bar_single_ms": 5,
        "meets_bar": bool(batched >= 5000 and np.percentile(ms, 95) < 5),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
