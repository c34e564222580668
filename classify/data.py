"""Labelled data in plain CSV (`text,label[,lang]`): the bundled corpus and any user file.

The bundled corpus is every `classify/data/*.csv`; `eteam train --data` takes any CSV with
`text` and `label` columns so the engine can be checked on public benchmarks too.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

BUNDLED_DATA_DIR = Path(__file__).parent / "data"
#: share of labelled rows kept out of training to measure models and compare them
HOLDOUT_FRACTION = 0.10
HOLDOUT_RULE = "sha1(normalised text) mod 10000 < 10000 * fraction"


class LabelledDataError(ValueError):
    """A CSV that lacks the `text` and `label` columns, or holds no rows."""


@dataclass
class LabelledData:
    """Texts and their labels, in file order."""

    texts: list[str]
    labels: list[str]

    def extend(self, other: LabelledData) -> None:
        """Append another set (for example agent corrections)."""
        self.texts.extend(other.texts)
        self.labels.extend(other.labels)


def normalise(text: str) -> str:
    """Lower-case and collapse whitespace; the features see nothing else of formatting."""
    return " ".join(text.lower().split())


def in_holdout(text: str, fraction: float = HOLDOUT_FRACTION) -> bool:
    """Whether a row belongs to the evaluation hold-out, decided by a hash of its text alone.

    The same text is held out in every run, whatever else the data holds, so adding rows (new
    CSV lines, agent corrections) never moves an old row between training and evaluation.
    """
    digest = hashlib.sha1(normalise(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < round(fraction * 10_000)


def split_holdout(data: LabelledData, fraction: float = HOLDOUT_FRACTION) -> tuple[LabelledData, LabelledData]:
    """(training part, hold-out part) by `in_holdout`; every label keeps two training rows.

    A label so rare that hashing would leave it under two training rows keeps its rows in
    training: it could not be learnt or cross-validated otherwise.
    """
    flags = [in_holdout(text, fraction) for text in data.texts]
    kept: dict[str, int] = {}
    for label, held in zip(data.labels, flags, strict=True):
        kept[label] = kept.get(label, 0) + (not held)
    train, holdout = LabelledData([], []), LabelledData([], [])
    for text, label, held in zip(data.texts, data.labels, flags, strict=True):
        target = holdout if held and kept[label] >= 2 else train
        target.texts.append(text)
        target.labels.append(label)
    return train, holdout


def read_csv(path: Path) -> LabelledData:
    """Read one CSV; empty texts are skipped, a missing column is a clear error."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"text", "label"} - set(reader.fieldnames or [])
        if missing:
            raise LabelledDataError(
                f"{path}: missing column(s) {sorted(missing)}; a header `text,label` is required"
            )
        rows = [(row["text"].strip(), row["label"].strip()) for row in reader]
    rows = [(text, label) for text, label in rows if text and label]
    if not rows:
        raise LabelledDataError(f"{path}: no labelled rows")
    return LabelledData([text for text, _ in rows], [label for _, label in rows])


def bundled_paths() -> list[Path]:
    """The CSV files of the bundled training corpus."""
    return sorted(BUNDLED_DATA_DIR.glob("*.csv"))


def read_many(paths: list[Path]) -> LabelledData:
    """Read and concatenate several CSVs."""
    data = LabelledData([], [])
    for path in paths:
        data.extend(read_csv(path))
    return data
