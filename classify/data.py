"""Labelled data in plain CSV (`text,label[,lang]`): the bundled corpus and any user file.

The bundled corpus is every `classify/data/*.csv`; `eteam train --data` takes any CSV with
`text` and `label` columns so the engine can be checked on public benchmarks too.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

BUNDLED_DATA_DIR = Path(__file__).parent / "data"


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
