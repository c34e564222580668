"""The numpy-only scorer predicts exactly as the fitted scikit-learn pipeline, and loads without it.

`classify.scorer.Scorer` replaces `Pipeline.predict_proba` at prediction time so that loading a
model imports neither scikit-learn, scipy nor skops; these tests hold it to scikit-learn's own
numbers on the bundled corpus and on awkward texts, and check the model file round trip.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.pipeline import Pipeline

from classify.data import bundled_paths, read_many
from classify.model import MODEL_FORMAT, IntentModel, ModelFileError, build_pipeline, normalise
from classify.scorer import (
    Scorer,
    TfidfBlock,
    UnsupportedPipeline,
    strip_accents_unicode,
    word_vector_features,
)
from classify.word_vectors import StaticWordVectors
from eteam.cli_support import ensure_model
from eteam.settings import Settings
from tests.test_model import small_data

REPO = Path(__file__).resolve().parent.parent

EDGE_CASES = [
    "",
    " ",
    "!!! ??? ... --- ¡¿!",
    "a",
    "ab",
    "Ñandú, ÁÉÍÓÚ ü ç: mañana pagaré la factura del año",
    "Hola, no tengo luz desde ayer y mi medidor está dañado, ¿pueden venir?",
    "x" * 500,
    "supercalifragilisticexpialidocious" * 12 + " bill",
    "zzqxv blorftnik quux-frobnitz",
    "bill bill bill bill bill bill power power",
    "no\tpower\n\nat  home\u00a0today\r\nplease\u2003now\u3000ok\x0bx\x0cy",
    "İstanbul ſ Straße ﬁle ½ ㎏ Ⅻ ǅ",
    "a¨b e\u0301\u0327 \u0301leading combining",
    "NO POWER AT 123 MAIN ST. ACCT #12-345-678 $1,234.56",
    "⚡🔌 power out 🙁",
    "ΣΑΣ ΟΔΟΣ",
]


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], list[str]]:
    """The bundled labelled corpus (texts as written, labels)."""
    data = read_many(bundled_paths())
    return data.texts, data.labels


@pytest.fixture(scope="module")
def corpus_pipeline(corpus: tuple[list[str], list[str]]) -> Pipeline:
    """The production feature pipeline fitted once on the whole bundled corpus."""
    texts, labels = corpus
    return build_pipeline().fit([normalise(t) for t in texts], labels)


@pytest.fixture(scope="module")
def model() -> IntentModel:
    """A small default model (TF-IDF and word vectors) on three topics."""
    return IntentModel.train(*small_data())


def scorer_of(pipeline: Pipeline) -> Scorer:
    scorer = Scorer.from_pipeline(pipeline)
    assert scorer is not None
    return scorer


def test_scorer_equals_scikit_learn_on_the_corpus(
    corpus: tuple[list[str], list[str]], corpus_pipeline: Pipeline
) -> None:
    scorer = scorer_of(corpus_pipeline)
    assert scorer.classes == [str(c) for c in corpus_pipeline.classes_]
    texts = corpus[0]
    for batch in ([normalise(t) for t in texts], texts):  # as the model feeds it, and raw
        expected = corpus_pipeline.predict_proba(batch)
        got = scorer.predict_proba(batch)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
        assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_scorer_equals_scikit_learn_on_awkward_texts(corpus_pipeline: Pipeline) -> None:
    scorer = scorer_of(corpus_pipeline)
    texts = EDGE_CASES + [normalise(t) for t in EDGE_CASES]
    np.testing.assert_allclose(scorer.predict_proba(texts), corpus_pipeline.predict_proba(texts), rtol=0, atol=1e-12)
    # one at a time (the per-word memory now warm) gives the same rows as the batch
    singles = np.vstack([scorer.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(singles, corpus_pipeline.predict_proba(texts), rtol=0, atol=1e-12)
    assert scorer.predict_proba([]).shape == (0, len(scorer.classes))


def test_tfidf_rows_are_scikit_learn_s_exactly(corpus: tuple[list[str], list[str]], corpus_pipeline: Pipeline) -> None:
    texts = corpus[0][:400] + EDGE_CASES
    steps = dict(corpus_pipeline.named_steps["features"].transformer_list)
    for name in ("words", "chars"):
        block = TfidfBlock.from_vectorizer(name, steps[name])
        rows = block.rows(texts)
        expected = sparse.csr_matrix(steps[name].transform(texts))
        assert np.array_equal(rows.indptr, expected.indptr)
        assert np.array_equal(rows.indices, expected.indices)
        assert np.array_equal(rows.values, expected.data)  # the same operations: not just close


def test_per_word_memory_gives_the_same_rows(corpus_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    chars = dict(corpus_pipeline.named_steps["features"].transformer_list)["chars"]
    block = TfidfBlock.from_vectorizer("chars", chars)
    texts = small_data()[0] + EDGE_CASES
    fresh = block.rows(texts, remember=False)
    assert not block._words
    monkeypatch.setattr(TfidfBlock, "WORD_LIMIT", 5)  # the memory is also cleared on the way
    for _ in range(3):  # an empty memory, then the words remembered, then cleared and refilled
        remembered = block.rows(texts)
        assert block._words
        for got, want in zip(remembered[:3], fresh[:3], strict=True):
            assert np.array_equal(got, want)
    # a word's remembered columns are those of a text of that word alone
    assert "pressure" in block._words
    assert np.array_equal(np.unique(block._words["pressure"]), block.rows(["pressure"], remember=False).indices)


def test_accent_stripping_is_scikit_learn_s() -> None:
    from sklearn.feature_extraction.text import strip_accents_unicode as reference

    for text in EDGE_CASES + ["plain ascii", "Çà et là, où ça?"]:
        assert strip_accents_unicode(text) == reference(text)
        assert strip_accents_unicode(text.lower()) == reference(text.lower())


def test_word_vector_features_are_the_sparse_product() -> None:
    """The one implementation of StaticWordVectors.transform equals its former scipy form."""
    rng = np.random.default_rng(7)
    vocabulary = {w: i for i, w in enumerate(["power", "out", "bill", "agua", "luz", "x"])}
    vectors = rng.normal(size=(len(vocabulary), 384)).astype(np.float32)
    step = StaticWordVectors(weight=1.5)
    step.vocabulary_, step.vectors_ = vocabulary, vectors
    texts = ["power out power", "", "zzz", "bill agua luz x power", "out", "luz\tagua"]
    words = [[vocabulary[w] for w in t.split() if w in vocabulary] for t in texts]
    indptr = np.cumsum([0] + [len(w) for w in words])
    counts = sparse.csr_matrix(
        (np.ones(indptr[-1], dtype=np.float32), [i for w in words for i in w], indptr),
        shape=(len(texts), len(vectors)),
    )
    summed = np.asarray(counts @ vectors)
    norms = np.linalg.norm(summed, axis=1, keepdims=True)
    expected = summed * (np.float32(1.5) / np.where(norms > 0, norms, 1.0))
    got = step.transform(texts)
    assert got.dtype == np.float32 and np.array_equal(got, expected)
    assert np.array_equal(word_vector_features(texts, vocabulary, vectors, 1.5), got)
    assert not got[1].any() and not got[2].any()


def test_saved_model_predicts_as_the_trained_one(model: IntentModel, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("model.json"))
        names = set(archive.namelist())
    assert document["format"] == "eteam-intent-model/2" and document["scorer"] is not None
    assert {"pipeline.skops", "arrays/linear.weights_t.npy", "arrays/chars.idf.npy"} <= names
    loaded = IntentModel.load(path)
    assert loaded._pipeline is None  # predicting does not read the pipeline
    texts = small_data()[0] + EDGE_CASES
    np.testing.assert_allclose(loaded.probabilities(texts), model.probabilities(texts), rtol=0, atol=1e-12)
    topics = ["Billing", None, "Outage"] * (len(texts) // 3) + [None] * (len(texts) % 3)
    for got, want in zip(loaded.predict_many(texts, topics), model.predict_many(texts, topics), strict=True):
        assert (got.intent, got.above_threshold) == (want.intent, want.above_threshold)
        assert got.confidence == pytest.approx(want.confidence, abs=1e-12)
    assert loaded.labels == model.labels and loaded.version == model.version
    assert loaded.meta == model.meta
    # the pipeline read on demand is whole again: what the arrays held is back in it
    normalised = [normalise(t) for t in texts]
    np.testing.assert_allclose(
        loaded.pipeline.predict_proba(normalised), model.pipeline.predict_proba(normalised), rtol=0, atol=1e-12
    )
    # and a model loaded from a file saves again to an equivalent file
    again = tmp_path / "again.skops"
    loaded.save(again)
    np.testing.assert_allclose(IntentModel.load(again).probabilities(texts), model.probabilities(texts), rtol=0, atol=1e-12)


def test_loading_and_predicting_imports_no_sklearn_skops_or_scipy(model: IntentModel, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    model.save(path)
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from classify.model import IntentModel\n"
        "model = IntentModel.load(Path(sys.argv[1]))\n"
        "verdict = model.predict('the lights went out on my street', topic='Outage')\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'skops', 'scipy'})\n"
        "print(json.dumps([heavy, verdict.intent, verdict.confidence]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    heavy, intent, confidence = json.loads(done.stdout)
    assert heavy == []
    expected = model.predict("the lights went out on my street", topic="Outage")
    assert intent == expected.intent and confidence == pytest.approx(expected.confidence, abs=1e-12)


def write_old_format(model: IntentModel, path: Path) -> None:
    """A model file as `IntentModel.save` wrote it before the scorer (format 1, one skops file)."""
    pipeline = copy.deepcopy(model.pipeline)
    vectorizers = [
        step
        for _, step in pipeline.named_steps["features"].transformer_list
        if isinstance(step, TfidfVectorizer | StaticWordVectors)
    ]
    vocabularies = [{k: int(i) for k, i in v.vocabulary_.items()} for v in vectorizers]
    for vectorizer in vectorizers:
        vectorizer.__dict__.pop("stop_words_", None)
        vectorizer.vocabulary_ = {}
    payload = {
        "format": "eteam-intent-model/1",
        "meta": json.dumps(model.meta.__dict__),
        "vocabularies": json.dumps(vocabularies),
        "pipeline": pipeline,
    }
    sio.dump(payload, path)


def test_old_format_files_still_load_and_predict_the_same(model: IntentModel, tmp_path: Path) -> None:
    path = tmp_path / "old.skops"
    write_old_format(model, path)
    loaded = IntentModel.load(path)
    assert loaded._scorer is not None and loaded.meta == model.meta
    texts = small_data()[0] + EDGE_CASES
    np.testing.assert_allclose(loaded.probabilities(texts), model.probabilities(texts), rtol=0, atol=1e-12)
    # converting it writes the new format, which predicts the same without skops
    converted = tmp_path / "new.skops"
    loaded.save(converted)
    np.testing.assert_allclose(
        IntentModel.load(converted).probabilities(texts), model.probabilities(texts), rtol=0, atol=1e-12
    )


def test_an_install_with_an_old_model_file_gets_it_rewritten_once(model: IntentModel, tmp_path: Path) -> None:
    """Upgrading keeps the trained model (same version) and stops paying skops on every start."""
    path = tmp_path / "model.skops"
    write_old_format(model, path)
    settings = Settings(model_path=path, var_dir=tmp_path)
    upgraded = ensure_model(settings)
    assert upgraded.version == model.version
    reread = IntentModel.load(path)
    assert reread.file_format == MODEL_FORMAT and reread.version == model.version
    texts = small_data()[0]
    np.testing.assert_allclose(reread.probabilities(texts), model.probabilities(texts), rtol=0, atol=1e-12)
    stamp = path.stat().st_mtime_ns
    ensure_model(settings)
    assert path.stat().st_mtime_ns == stamp  # already current: left alone


def test_a_two_label_model_scores_through_its_pipeline(tmp_path: Path) -> None:
    """Binary calibration is other arithmetic: no scorer, the pipeline predicts, saved whole."""
    texts, labels = small_data()
    kept = [(t, y) for t, y in zip(texts, labels, strict=True) if y != "water"]
    model = IntentModel.train([t for t, _ in kept], [y for _, y in kept])
    assert model._scorer is None
    path = tmp_path / "binary.skops"
    model.save(path)
    loaded = IntentModel.load(path)
    assert loaded._scorer is None and loaded._pipeline is not None
    probe = ["power is out", "my bill is wrong", ""]
    np.testing.assert_allclose(loaded.probabilities(probe), model.probabilities(probe), rtol=0, atol=1e-12)
    assert loaded.predict("no electricity at home").intent == "outage"


def test_blocks_the_scorer_cannot_represent(model: IntentModel) -> None:
    union = model.pipeline.named_steps["features"]
    words = dict(union.transformer_list)["words"]
    for settings in (
        {"analyzer": "char"},
        {"sublinear_tf": False},
        {"stop_words": "english"},
        {"lowercase": False},
        {"strip_accents": "ascii"},
        {"binary": True},
        {"norm": "l1"},
        {"token_pattern": r"\w+"},
        {"dtype": np.float32},
    ):
        changed = copy.deepcopy(words).set_params(**settings)
        with pytest.raises(UnsupportedPipeline):
            TfidfBlock.from_vectorizer("words", changed)
    # an unknown kind of block: no scorer (the model then predicts through its pipeline)
    other = copy.deepcopy(model.pipeline)
    other.named_steps["features"].transformer_list[0] = ("counts", CountVectorizer().fit(small_data()[0]))
    assert Scorer.from_pipeline(other) is None
    assert Scorer.from_pipeline(model.pipeline) is not None


def save_with(path: Path, model_path: Path, replace: dict[str, bytes]) -> None:
    """A copy of a model file with some members replaced (or removed, given b"")."""
    with zipfile.ZipFile(model_path) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            if name in replace:
                if replace[name]:
                    target.writestr(name, replace[name])
            else:
                target.writestr(name, source.read(name))


def test_damaged_or_unsafe_new_format_files_are_refused(model: IntentModel, tmp_path: Path) -> None:
    good = tmp_path / "good.skops"
    model.save(good)
    with zipfile.ZipFile(good) as archive:
        document = json.loads(archive.read("model.json"))
    bad = tmp_path / "bad.skops"

    save_with(bad, good, {"arrays/linear.slope.npy": b""})
    with pytest.raises(ModelFileError, match="damaged"):
        IntentModel.load(bad)

    import io

    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    save_with(bad, good, {"arrays/words.idf.npy": pickled.getvalue()})
    with pytest.raises(ModelFileError, match="damaged"):  # object arrays would need a pickle
        IntentModel.load(bad)

    save_with(bad, good, {"model.json": json.dumps({**document, "format": "eteam-intent-model/9"}).encode()})
    with pytest.raises(ModelFileError, match="format"):
        IntentModel.load(bad)

    vocabularies = copy.deepcopy(document["vocabularies"])
    vocabularies[1][next(iter(vocabularies[1]))] = 10**9  # a column the weights do not have
    save_with(bad, good, {"model.json": json.dumps({**document, "vocabularies": vocabularies}).encode()})
    with pytest.raises(ModelFileError, match="damaged"):
        IntentModel.load(bad)

    save_with(bad, good, {"model.json": b"{not json"})
    with pytest.raises(ModelFileError, match="damaged"):
        IntentModel.load(bad)

    # a pipeline with a type outside the trusted modules is refused when it is read
    save_with(bad, good, {"pipeline.skops": sio.dumps({"x": Fraction(1, 3)})})
    loaded = IntentModel.load(bad)
    with pytest.raises(ModelFileError, match="unexpected types"):
        loaded.pipeline
    save_with(
        bad, good, {"model.json": json.dumps({**document, "scorer": None}).encode(), "pipeline.skops": sio.dumps(Fraction(1, 3))}
    )
    with pytest.raises(ModelFileError, match="unexpected types"):
        IntentModel.load(bad)


def test_the_pipeline_is_not_read_from_a_file_replaced_since_loading(model: IntentModel, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    model.save(path)
    loaded = IntentModel.load(path)
    other = IntentModel.train(*small_data(), word_vectors=None)
    other.save(path)
    with pytest.raises(ModelFileError, match="changed since it was loaded"):
        loaded.pipeline
    assert loaded.predict("power is out").intent == "outage"  # predicting never needed it
