"""Where the shared real-world corpora live, and what a test does when they are missing.

The corpora stay outside the repository (`../shared/corpora/` next to the checkout, see its
README). A fresh clone has no such folder, so corpus tests skip with the reason; CI has
it, so there a missing folder is a failure rather than a silently skipped test.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import require

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def corpus_dir(*parts: str) -> Path:
    """The corpus folder `CORPORA/parts...`; skips the test (fails under CI=true) when absent."""
    path = CORPORA.joinpath(*parts)
    require(
        path.is_dir(),
        f"corpus folder {path} is absent (the shared corpora live next to the checkout)",
    )
    return path
