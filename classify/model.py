"""The intent model: features, training, per-intent thresholds, evaluation and safe persistence.

Like Mozilla bugbug's model classes, `IntentModel` owns everything about the model: the
feature pipeline (word and character TF-IDF plus static word vectors distilled from the bundled
e5-small encoder, optionally sentence embeddings), the calibrated
linear classifier, the confidence thresholds chosen on held-out data, the metrics report, and
saving (numpy arrays, JSON and skops: never a pickle of arbitrary objects). It works on any
`text,label` data, not only ours.

Training without a given hold-out set (the default):

1. A fixed 10% of the rows, chosen by a hash of each text (`classify.data.in_holdout`), is the
   hold-out. No model trained this way ever fits on it, so any two such models can be compared
   on it fairly (see `classify.corrections`). Rows passed as `extra_texts` (agent
   corrections) always train.
2. Per-intent thresholds come from 5-fold out-of-fold predictions on the training part: the
   lowest confidence at which an intent's answers are still right 97% of the time.
3. The model is fitted on the training part and measured on the hold-out with those
   thresholds: the stored metrics are on rows that neither the model nor its thresholds saw.

With a given hold-out set (a public benchmark's validation split) the model is fitted on the
training rows only, thresholds are picked on the hold-out and the metrics are measured there.

Predicting needs neither scikit-learn nor skops: `classify.scorer` holds the fitted pipeline's
arithmetic as numpy arrays, and a model file carries those arrays beside the pipeline (see
`IntentModel.save`). Importing scikit-learn, scipy and skops takes seconds on the 2-core
machine, so they are imported only where a model is built, saved or evaluated, where its
fitted pipeline is asked for (`IntentModel.pipeline`), or where an old-format file is read.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from threadpoolctl import ThreadpoolController

from classify.data import (
    HOLDOUT_FRACTION,
    HOLDOUT_RULE,
    LabelledData,
    normalise,
    split_holdout,
)
from classify.scorer import Scorer, WordVectorBlock

if TYPE_CHECKING:  # scikit-learn is imported only where it is needed: see the module doc
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline

    from classify.word_vectors import StaticWordVectors

__all__ = [
    "IntentModel",
    "ModelFileError",
    "Prediction",
    "TrainedMeta",
    "build_pipeline",
    "choose_oos_threshold",
    "choose_thresholds",
    "evaluate",
    "normalise",
    "topic_intents",
]

#: a zip of model.json, the scorer's .npy arrays and the pipeline's skops bytes (`IntentModel.save`)
MODEL_FORMAT = "eteam-intent-model/2"
#: one skops file holding the pipeline and JSON metadata: written before the scorer, still read
OLD_MODEL_FORMAT = "eteam-intent-model/1"
DEFAULT_THRESHOLD = 0.5
TARGET_PRECISION = 0.97
#: regularisation of the linear SVM (chosen by 5-fold cross-validation on the bundled corpus)
SVM_C = 1.0
#: encoder whose distilled word vectors join the TF-IDF blocks by default (`classify.word_vectors`)
WORD_VECTORS = "e5-small"
CV_FOLDS = 5
#: how much a web-form Topic multiplies the odds of the intents it suggests (weak on purpose)
TOPIC_WEIGHT = 0.5
#: modules whose types a model file may contain; anything else is refused on load
TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy", "scipy.", "builtins.", "classify.")

#: web-form Topic wording -> intents it makes a little more likely; "Other" suggests nothing
TOPIC_INTENTS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), intents)
    for pattern, intents in (
        (
            r"\bbill|\bfactur|\bcobro|\brecibo",
            ("bill_explanation", "high_bill", "payment_issue", "billing_options", "payment_arrangement",
             "leak_adjustment", "deposit", "meter_reading"),
        ),
        (r"\bpay|\bpago", ("payment_issue", "payment_arrangement", "billing_options", "shutoff_notice")),
        (r"\bstart|\bconnect|\biniciar|\bconectar", ("start_service", "deposit")),
        (r"\bstop|\bmov|\btransfer|\bclose|\bcancel|\bmudanza|\bdesconect", ("stop_transfer_service",)),
        (r"\boutage|\bpower|\belectric|\bapag[oó]n|\bsin luz|\bcorte", ("outage", "damage_claim")),
        (r"\bwater|\bagua", ("water_problem", "leak_adjustment", "outage")),
        (r"\bprogram|\bassist|\bdiscount|\brebate|\bdescuento|\bayuda", ("assistance_programs", "solar_ev")),
        (r"\bsolar|\bev\b|\bvehicle|\bveh[ií]culo", ("solar_ev",)),
        (r"\bwebsite|\bonline|\blog ?in|\bpassword|\ben l[ií]nea|\bcontrase", ("online_account",)),
        (r"\bmy account|\baccount\b|\bmi cuenta|\bcuenta\b", ("account_update", "online_account")),
        (r"\bmeter|\bmedidor", ("meter_reading", "meter_access")),
        (r"\bcomplain|\bcustomer service|\bqueja|\breclamo", ("complaint",)),
        (r"\bscam|\bfraud|\bestafa|\bfraude", ("fraud_scam",)),
        (r"\bclaim|\bdamage|\bda[nñ]o", ("damage_claim",)),
    )
)


class ModelFileError(ValueError):
    """A file that is not one of our intent models, or was damaged."""


@dataclass(frozen=True)
class Prediction:
    """One verdict: the intent, its probability, and the runners-up (intent, probability)."""

    intent: str
    confidence: float
    runners_up: list[tuple[str, float]]
    above_threshold: bool


@dataclass
class TrainedMeta:
    """What is saved beside the pipeline: provenance, labels, thresholds, held-out metrics."""

    version: str
    data_hash: str
    labels: list[str]
    thresholds: dict[str, float]
    metrics: dict[str, Any] = field(default_factory=dict)
    oos_label: str | None = None
    #: with an out-of-scope label: below this confidence the verdict is out of scope
    oos_threshold: float = 0.0
    features: str = "tfidf"
    topic_weight: float = TOPIC_WEIGHT
    #: which rows were held out: rule or source, row count, and a hash of those rows
    holdout: dict[str, Any] = field(default_factory=dict)
    threshold_source: str = ""
    training_rows: int = 0
    extra_rows: int = 0
    training_seconds: float = 0.0
    trained_at: str = ""


def topic_intents(topic: str | None) -> frozenset[str]:
    """The intents a web-form Topic suggests; none for "Other", empty or unknown topics."""
    if not topic or not topic.strip():
        return frozenset()
    return frozenset(
        intent for pattern, intents in TOPIC_INTENTS if pattern.search(topic) for intent in intents
    )


def build_pipeline(
    embeddings: str | None = None,
    *,
    calibration_folds: int = 3,
    C: float = SVM_C,
    word_vectors: str | None = WORD_VECTORS,
    vector_cache: Path | None = None,
) -> Pipeline:
    """Word 1-2 grams plus character 3-5 grams (robust to typos and Spanish accents).

    `word_vectors` (default "e5-small"; None for TF-IDF alone) adds the message's distilled word
    vectors, which carry what the encoder knows about synonyms at TF-IDF speed; see
    `classify.word_vectors` (`vector_cache`: the folder keeping encoded words between
    trainings). With `embeddings` (e.g. "e5-small"), sentence vectors join too; see
    `classify.embeddings`. The linear SVM's scores become probabilities by sigmoid calibration
    on internal folds; the three fold models are averaged (`ensemble=True`: a little more
    coverage at the same precision than one refit model, measured on repeated 10% hold-outs).
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.svm import LinearSVC

    from classify.word_vectors import StaticWordVectors

    blocks: list[tuple[str, Any]] = [
        (
            "words",
            TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, strip_accents="unicode"),
        ),
        (
            "chars",
            TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(3, 5),
                min_df=2,
                sublinear_tf=True,
                strip_accents="unicode",
                max_features=300_000,
            ),
        ),
    ]
    if word_vectors:
        cache_dir = str(vector_cache) if vector_cache is not None else None
        blocks.append(("word_vectors", StaticWordVectors(encoder=word_vectors, cache_dir=cache_dir)))
    if embeddings:
        from classify.embeddings import SentenceEmbeddings

        blocks.append(("embeddings", SentenceEmbeddings(encoder=embeddings)))
    classifier = CalibratedClassifierCV(
        LinearSVC(C=C), method="sigmoid", cv=calibration_folds, ensemble=True
    )
    return Pipeline([("features", FeatureUnion(blocks)), ("classifier", classifier)])


def data_hash(texts: Sequence[str], labels: Sequence[str]) -> str:
    """A stable hash of the training data, saved with the model for provenance."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


def choose_thresholds(
    labels: list[str],
    true: Sequence[str],
    predicted: Sequence[str],
    confidence: Sequence[float],
    target_precision: float = TARGET_PRECISION,
) -> dict[str, float]:
    """Per intent, the lowest confidence at which answers predicted as it are right often enough.

    Walk the held-out predictions of each intent from most to least confident and keep the
    lowest cut-off whose precision above it is still at least `target_precision`.
    """
    thresholds: dict[str, float] = {}
    true_arr = np.asarray(true)
    pred_arr = np.asarray(predicted)
    conf_arr = np.asarray(confidence)
    for label in labels:
        mask = pred_arr == label
        if not mask.any():
            thresholds[label] = DEFAULT_THRESHOLD
            continue
        order = np.argsort(-conf_arr[mask], kind="stable")
        correct = (true_arr[mask] == label)[order]
        confs = conf_arr[mask][order]
        precision = np.cumsum(correct) / np.arange(1, len(correct) + 1)
        ok = np.nonzero(precision >= target_precision)[0]
        thresholds[label] = float(confs[ok[-1]]) if len(ok) else 1.01
    return thresholds


def choose_oos_threshold(
    true: Sequence[str], predicted: Sequence[str], confidence: Sequence[float], oos_label: str
) -> float:
    """The one confidence cut-off below which calling a message out of scope is most accurate.

    Accuracy counts the out-of-scope label as one more class, so the cut-off trades wrongly
    rejected in-scope messages against caught out-of-scope ones at their held-out frequencies.
    """
    true_arr = np.asarray(true)
    pred_arr = np.asarray(predicted)
    conf_arr = np.asarray(confidence, dtype=float)
    order = np.argsort(conf_arr, kind="stable")
    true_arr, pred_arr, conf_arr = true_arr[order], pred_arr[order], conf_arr[order]
    is_oos = true_arr == oos_label
    kept_right = pred_arr == true_arr
    # cutting before index i rejects rows [0, i): right there if truly out of scope
    rejected_right = np.concatenate([[0], np.cumsum(is_oos)])
    kept_right_after = np.concatenate([np.cumsum(kept_right[::-1])[::-1], [0]])
    score = rejected_right + kept_right_after
    # only cut between distinct confidences
    starts = np.concatenate([[True], conf_arr[1:] != conf_arr[:-1], [True]])
    candidates = np.nonzero(starts)[0]
    best = candidates[np.argmax(score[candidates])]
    if best == 0:
        return 0.0
    if best >= len(conf_arr):
        return float(conf_arr[-1]) + 1e-9
    return float(conf_arr[best])


def _fit(
    texts: Sequence[str],
    labels: Sequence[str],
    embeddings: str | None,
    word_vectors: str | None,
    vector_cache: Path | None,
) -> Pipeline:
    counts = np.unique(np.asarray(labels), return_counts=True)[1]
    folds = int(min(3, counts.min()))
    if folds < 2:
        rare = [label for label in sorted(set(labels)) if list(labels).count(label) < 2]
        raise ValueError(f"every label needs at least 2 rows; too few for {rare[:5]}")
    pipeline = build_pipeline(
        embeddings, calibration_folds=folds, word_vectors=word_vectors, vector_cache=vector_cache
    )
    return pipeline.fit(list(texts), list(labels))


def _top(pipeline: Pipeline, texts: Sequence[str]) -> tuple[list[str], list[float]]:
    probabilities = pipeline.predict_proba(list(texts))
    classes = np.asarray(pipeline.classes_)
    return list(classes[probabilities.argmax(axis=1)]), list(probabilities.max(axis=1))


def _cv_folds(labels: Sequence[str], wanted: int) -> int:
    """The most folds (up to `wanted`) that leave every label 2 rows in each fold's training part."""
    smallest = int(np.unique(np.asarray(labels), return_counts=True)[1].min())
    for folds in range(wanted, 1, -1):
        if smallest * (folds - 1) // folds >= 2 and smallest >= folds:
            return folds
    return 0


def _out_of_fold(
    texts: list[str],
    labels: list[str],
    embeddings: str | None,
    word_vectors: str | None,
    vector_cache: Path | None,
    folds: int,
    seed: int,
) -> tuple[list[str], list[float]]:
    from sklearn.model_selection import StratifiedKFold

    predicted: list[str] = [""] * len(texts)
    confidence: list[float] = [0.0] * len(texts)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for fit_idx, test_idx in splitter.split(texts, labels):
        pipeline = _fit(
            [texts[i] for i in fit_idx], [labels[i] for i in fit_idx], embeddings, word_vectors, vector_cache
        )
        fold_pred, fold_conf = _top(pipeline, [texts[i] for i in test_idx])
        for i, p, c in zip(test_idx, fold_pred, fold_conf, strict=True):
            predicted[i], confidence[i] = p, c
    return predicted, confidence


@cache
def _blas() -> ThreadpoolController:
    """The process's BLAS libraries, found once: the scorer runs them on one thread.

    The scorer's products are small (a batch of texts by 384 word-vector columns by the fold
    models' weights), so a second BLAS thread saves microseconds; but OpenBLAS keeps its idle
    threads spinning for a while after each product, and on the 2-core machine that spinning
    took the core the other process of the pipeline needed: the ingest benchmark used a third
    more CPU per message, and ran a sixth slower, with BLAS's default threads.
    """
    return ThreadpoolController()


#: the members of a model file (`IntentModel.save`)
_JSON_MEMBER = "model.json"
_PIPELINE_MEMBER = "pipeline.skops"
_ARRAY_DIR = "arrays/"


def _vectorizers_of(pipeline: Pipeline) -> list[TfidfVectorizer | StaticWordVectors]:
    """The pipeline's feature steps with a word -> column `vocabulary_`, in pipeline order."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from classify.word_vectors import StaticWordVectors

    return [
        step
        for _, step in pipeline.named_steps["features"].transformer_list
        if isinstance(step, TfidfVectorizer | StaticWordVectors)
    ]


@contextmanager
def _slimmed(pipeline: Pipeline, scorer: Scorer | None) -> Iterator[list[dict[str, int]]]:
    """The pipeline without what its file stores elsewhere, for as long as it is being written.

    Vocabularies go as JSON: skops rebuilds a Python dict entry by entry, which for ~100k
    n-gram vocabularies takes seconds, while one JSON text loads in milliseconds. With a scorer,
    the fold models' `coef_` and the word vectors' `vectors_` are left out too: the scorer's
    arrays hold the same numbers (`_restore` puts them back), and the file is not twice as
    big. `stop_words_` (every pruned n-gram) is a fitting diagnostic only and is dropped for
    good, as scikit-learn's docs allow. Yields the vocabularies, in `_vectorizers_of` order.
    """
    from classify.word_vectors import StaticWordVectors

    vectorizers = _vectorizers_of(pipeline)
    vocabularies = [{k: int(i) for k, i in v.vocabulary_.items()} for v in vectorizers]
    taken: list[tuple[Any, str, Any]] = []
    for vectorizer in vectorizers:
        vectorizer.__dict__.pop("stop_words_", None)
        taken.append((vectorizer, "vocabulary_", vectorizer.vocabulary_))
    if scorer is not None:
        taken += [(v, "vectors_", v.vectors_) for v in vectorizers if isinstance(v, StaticWordVectors)]
        folds = pipeline.named_steps["classifier"].calibrated_classifiers_
        taken += [(fold.estimator, "coef_", fold.estimator.coef_) for fold in folds]
    try:
        for owner, name, _ in taken:
            if name == "vocabulary_":
                setattr(owner, name, {})
            else:
                delattr(owner, name)
        yield vocabularies
    finally:
        for owner, name, value in taken:
            setattr(owner, name, value)


def _restore(pipeline: Pipeline, vocabularies: Sequence[dict[str, int]], scorer: Scorer | None) -> None:
    """Put back into a pipeline read from a file what `_slimmed` left out of it."""
    for vectorizer, vocabulary in zip(_vectorizers_of(pipeline), vocabularies, strict=True):
        vectorizer.vocabulary_ = vocabulary
    if scorer is None:
        return
    union = pipeline.named_steps["features"]
    for (_, step), block in zip(union.transformer_list, scorer.blocks, strict=True):
        if isinstance(block, WordVectorBlock):
            step.vectors_ = block.vectors
    for k, fold in enumerate(pipeline.named_steps["classifier"].calibrated_classifiers_):
        estimator = fold.estimator
        estimator.coef_ = scorer.linear.fold_coef(k, [scorer.classes.index(str(c)) for c in estimator.classes_])


def _read_skops(data: bytes | Path, path: Path) -> Any:
    """What a skops file (or its bytes) holds, refusing types outside TRUSTED_MODULE_PREFIXES."""
    import skops.io as sio

    source = {"file": data} if isinstance(data, Path) else {"data": data}
    try:
        untrusted = sio.get_untrusted_types(**source)
    except Exception as exc:  # skops raises several types for non-skops files
        raise ModelFileError(f"{path}: not an E-Team Inbox model file ({exc})") from exc
    refused = [t for t in untrusted if not t.startswith(TRUSTED_MODULE_PREFIXES)]
    if refused:
        raise ModelFileError(f"{path}: refuses to load unexpected types {refused[:5]}")
    try:
        return sio.load(data, trusted=untrusted) if isinstance(data, Path) else sio.loads(data, trusted=untrusted)
    except Exception as exc:
        raise ModelFileError(f"{path}: damaged or unreadable model file ({exc})") from exc


def _meta_from(fields: Any) -> TrainedMeta:
    """`TrainedMeta` from its saved fields; fields a newer version added and this one lacks are ignored."""
    known = set(TrainedMeta.__dataclass_fields__)
    return TrainedMeta(**{k: v for k, v in fields.items() if k in known})


def _stamp(archive: zipfile.ZipFile) -> tuple[int, ...]:
    """Checksums and sizes of a model file's JSON and pipeline: which save wrote the file."""
    members = [archive.getinfo(_JSON_MEMBER), archive.getinfo(_PIPELINE_MEMBER)]
    return tuple(value for info in members for value in (info.CRC, info.file_size))


@dataclass(frozen=True)
class _PipelineSource:
    """Where a loaded model's pipeline is, for reading it when first asked for."""

    path: Path
    stamp: tuple[int, ...]
    vocabularies: list[dict[str, int]]

    def read(self, scorer: Scorer | None) -> Pipeline:
        """The fitted pipeline, made whole again; refused if the file was replaced since."""
        try:
            with zipfile.ZipFile(self.path) as archive:
                if _stamp(archive) != self.stamp:
                    raise ModelFileError(f"{self.path}: the model file changed since it was loaded; load it again")
                data = archive.read(_PIPELINE_MEMBER)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise ModelFileError(f"{self.path}: the model's pipeline cannot be read ({exc})") from exc
        pipeline = _read_skops(data, self.path)
        try:
            _restore(pipeline, self.vocabularies, scorer)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFileError(f"{self.path}: damaged E-Team Inbox model file ({exc})") from exc
        return pipeline


class IntentModel:
    """A trained intent classifier with its thresholds; load with `IntentModel.load`."""

    def __init__(self, pipeline: Pipeline, meta: TrainedMeta) -> None:
        """A model around a fitted `build_pipeline` pipeline.

        It predicts through the pipeline's `Scorer`, or through the pipeline itself when that
        has a block the scorer cannot represent (sentence embeddings).
        """
        self._setup(meta, Scorer.from_pipeline(pipeline), pipeline, None)

    def _setup(
        self, meta: TrainedMeta, scorer: Scorer | None, pipeline: Pipeline | None, source: _PipelineSource | None
    ) -> None:
        self.meta = meta
        #: the file format the model was read from (a new model: the current one)
        self.file_format = MODEL_FORMAT
        self._scorer = scorer
        self._pipeline = pipeline
        self._source = source
        if scorer is not None:
            classes = scorer.classes
        else:
            assert pipeline is not None, "without a scorer the pipeline predicts"
            classes = pipeline.classes_
        self._classes: list[str] = [str(c) for c in classes]
        self._column = {label: i for i, label in enumerate(self._classes)}

    @property
    def pipeline(self) -> Pipeline:
        """The fitted scikit-learn pipeline: for evaluation tools, saving, and inspecting features.

        Predicting does not need it (`classify.scorer`). A model loaded from a file reads it
        from there, with skops, the first time it is asked for.
        """
        if self._pipeline is None:
            assert self._source is not None, "a model has a pipeline or a file to read it from"
            self._pipeline = self._source.read(self._scorer)
        return self._pipeline

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        if self._scorer is None:  # a block the scorer does not know (sentence embeddings)
            return self.pipeline.predict_proba(texts)
        with _blas().limit(limits=1, user_api="blas"):
            return self._scorer.predict_proba(texts)

    @property
    def version(self) -> str:
        """The model version recorded on every classification it makes."""
        return self.meta.version

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        oos_label: str | None = None,
        holdout_texts: Sequence[str] | None = None,
        holdout_labels: Sequence[str] | None = None,
        extra_texts: Sequence[str] = (),
        extra_labels: Sequence[str] = (),
        embeddings: str | None = None,
        seed: int = 13,
        cv_folds: int = CV_FOLDS,
        word_vectors: str | None = WORD_VECTORS,
        vector_cache: Path | None = None,
    ) -> IntentModel:
        """Fit on the data; thresholds and metrics come from held-out data (see the module doc).

        `extra_texts`/`extra_labels` (agent corrections) always train and are never held out.
        `embeddings` names a sentence encoder to add to the features (`classify.embeddings`);
        `word_vectors` the encoder whose distilled word vectors are added (None: TF-IDF only),
        `vector_cache` the folder that keeps its encoded words between trainings (the entry
        points pass `var/cache`; None remembers them for this process only).
        """
        started = time.perf_counter()
        texts = [normalise(t) for t in texts]
        labels = list(labels)
        extra_x = [normalise(t) for t in extra_texts]
        extra_y = list(extra_labels)
        if holdout_texts is not None and holdout_labels is not None:
            fit_x, fit_y = texts + extra_x, labels + extra_y
            hold_x = [normalise(t) for t in holdout_texts]
            hold_y = list(holdout_labels)
            holdout_info: dict[str, Any] = {"source": "given", "rows": len(hold_x)}
            probe = _fit(fit_x, fit_y, embeddings, word_vectors, vector_cache)
            select_y = hold_y
            select_pred, select_conf = _top(probe, hold_x)
            threshold_source = "the given hold-out data"
            final = probe
        else:
            train_part, hold_part = split_holdout(LabelledData(texts, labels))
            fit_x, fit_y = train_part.texts + extra_x, train_part.labels + extra_y
            hold_x, hold_y = hold_part.texts, hold_part.labels
            holdout_info = {"rule": HOLDOUT_RULE, "fraction": HOLDOUT_FRACTION, "rows": len(hold_x)}
            folds = _cv_folds(fit_y, cv_folds)
            final = probe = _fit(fit_x, fit_y, embeddings, word_vectors, vector_cache)
            if folds:
                select_y = fit_y
                select_pred, select_conf = _out_of_fold(
                    fit_x, fit_y, embeddings, word_vectors, vector_cache, folds, seed
                )
                threshold_source = f"{folds}-fold out-of-fold predictions on the training part"
            else:  # too little data to cross-validate: pick on the hold-out (or in-sample)
                select_y = hold_y or fit_y
                select_pred, select_conf = _top(probe, hold_x or fit_x)
                threshold_source = "the hold-out" if hold_x else "the training data (too small to hold out)"
        holdout_info["hash"] = data_hash(hold_x, hold_y)[:16]

        label_set = sorted(set(fit_y))
        in_scope = [label for label in label_set if label != oos_label]
        thresholds = choose_thresholds(in_scope, select_y, select_pred, select_conf)
        oos_threshold = 0.0
        if oos_label is not None:
            thresholds[oos_label] = 0.0
            oos_threshold = choose_oos_threshold(select_y, select_pred, select_conf, oos_label)

        all_x, all_y = texts + extra_x, labels + extra_y
        digest = data_hash(all_x, all_y)
        now = datetime.now(UTC)
        meta = TrainedMeta(
            version=now.strftime("%Y%m%dT%H%M%SZ") + "-" + digest[:8],
            data_hash=digest,
            labels=label_set,
            thresholds=thresholds,
            metrics={},
            oos_label=oos_label,
            oos_threshold=oos_threshold,
            features="tfidf"
            + (f"+{word_vectors}-words" if word_vectors else "")
            + (f"+{embeddings}" if embeddings else ""),
            holdout=holdout_info,
            threshold_source=threshold_source,
            training_rows=len(fit_x),
            extra_rows=len(extra_x),
            trained_at=now.isoformat(timespec="seconds"),
        )
        model = cls(final, meta)
        if hold_x:
            meta.metrics = evaluate(model, hold_x, hold_y)
        meta.training_seconds = round(time.perf_counter() - started, 2)
        return model

    @property
    def labels(self) -> list[str]:
        """The labels the model knows."""
        return self._classes

    def probabilities(
        self, texts: Sequence[str], topics: Sequence[str | None] | None = None
    ) -> np.ndarray:
        """Class probabilities (columns in `labels` order), nudged by each message's Topic.

        A Topic multiplies the odds of the intents it suggests by 1 + `topic_weight` (0.5):
        enough to settle a near tie, never enough to overturn a clear reading of the text.
        """
        probabilities = self._predict_proba([normalise(t) for t in texts])
        weight = self.meta.topic_weight
        if topics is None or weight <= 0:
            return probabilities
        if len(topics) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(topics)} topics")
        for row, topic in zip(probabilities, topics, strict=True):
            columns = [self._column[i] for i in topic_intents(topic) if i in self._column]
            if columns:
                row[columns] *= 1.0 + weight
                row /= row.sum()
        return probabilities

    def predict_many(
        self, texts: Sequence[str], topics: Sequence[str | None] | None = None, top: int = 3
    ) -> list[Prediction]:
        """Batched prediction: the fast path for pipelines and benchmarks.

        `topics` (one per text, None for none) is the web form's Topic: a weak prior.
        """
        if not texts:
            return []
        probabilities = self.probabilities(texts, topics)
        order = np.argsort(-probabilities, axis=1)[:, : top + 1]
        results: list[Prediction] = []
        oos = self.meta.oos_label
        for row, ranked in zip(probabilities, order, strict=True):
            best = self._classes[ranked[0]]
            confidence = float(row[ranked[0]])
            threshold = self.meta.thresholds.get(best, DEFAULT_THRESHOLD)
            above = confidence >= threshold
            runners = [(self._classes[i], float(row[i])) for i in ranked[1:]]
            if oos is not None and best != oos and confidence < self.meta.oos_threshold:
                runners = [(best, confidence), *runners[: top - 1]]
                best, confidence, above = oos, 1.0 - confidence, True
            results.append(Prediction(best, confidence, runners[:top], above))
        return results

    def predict(self, text: str, topic: str | None = None) -> Prediction:
        """One message (and its web-form Topic, if any); see `predict_many`."""
        return self.predict_many([text], None if topic is None else [topic])[0]

    def _vectorizers(self) -> list[TfidfVectorizer | StaticWordVectors]:
        """The feature steps with a word -> column `vocabulary_`, in pipeline order."""
        return _vectorizers_of(self.pipeline)

    def save(self, path: Path) -> None:
        """Write the model to `path` atomically (a temporary file, then a rename).

        The file (still named `var/model.skops` by default, though it is no longer one skops
        file) is a zip of: `model.json` (format, metadata, the scorer's layout and the
        vocabularies, as JSON), `arrays/<name>.npy` (the scorer's arrays: read by numpy
        without pickles) and `pipeline.skops` (the fitted pipeline in skops form, without what
        the JSON and the arrays already hold, see `_slimmed`). `load` needs only the first two
        to predict. A pipeline the scorer cannot represent is stored whole, and the scorer
        layout is null.
        """
        import skops.io as sio

        path.parent.mkdir(parents=True, exist_ok=True)
        scorer = self._scorer
        pipeline = self.pipeline
        with _slimmed(pipeline, scorer) as vocabularies:
            pipeline_bytes = sio.dumps(pipeline)
        document = {
            "format": MODEL_FORMAT,
            "meta": self.meta.__dict__,
            "vocabularies": vocabularies,
            "scorer": scorer.layout() if scorer is not None else None,
        }
        tmp = path.with_suffix(path.suffix + ".tmp")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(_JSON_MEMBER, json.dumps(document))
            for name, array in (scorer.arrays() if scorer is not None else {}).items():
                info = zipfile.ZipInfo(f"{_ARRAY_DIR}{name}.npy", date_time=time.localtime()[:6])
                with archive.open(info, "w") as member:
                    np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
            archive.writestr(_PIPELINE_MEMBER, pipeline_bytes)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        """Load a model saved by `save`; anything else fails with a clear `ModelFileError`.

        Reads the JSON and the arrays only: no scikit-learn, scipy or skops import (the
        pipeline is read when first asked for). Files of the format before
        (`OLD_MODEL_FORMAT`, one skops file) load through skops, as they always did.
        """
        if not path.is_file():
            raise ModelFileError(f"{path}: no model file; run `eteam train` or `eteam init`")
        try:
            archive = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise ModelFileError(f"{path}: not an E-Team Inbox model file ({exc})") from exc
        with archive:
            if _JSON_MEMBER not in archive.namelist():
                return cls._load_old_format(path)
            try:
                document = json.loads(archive.read(_JSON_MEMBER))
            except (OSError, ValueError, zipfile.BadZipFile) as exc:
                raise ModelFileError(f"{path}: damaged E-Team Inbox model file ({exc})") from exc
            if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT:
                raise ModelFileError(f"{path}: not an E-Team Inbox model file (format mismatch)")
            try:
                meta = _meta_from(document["meta"])
                vocabularies = document["vocabularies"]
                layout = document["scorer"]
                scorer = None
                if layout is not None:
                    arrays = {
                        name.removeprefix(_ARRAY_DIR).removesuffix(".npy"): _read_array(archive, name)
                        for name in archive.namelist()
                        if name.startswith(_ARRAY_DIR)
                    }
                    scorer = Scorer.from_parts(layout, arrays, vocabularies)
                source = _PipelineSource(path, _stamp(archive), vocabularies)
            except (KeyError, TypeError, ValueError, AttributeError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise ModelFileError(f"{path}: damaged E-Team Inbox model file ({exc})") from exc
        model = cls.__new__(cls)
        # without a scorer the pipeline predicts, so it is read now
        model._setup(meta, scorer, None if scorer is not None else source.read(None), source)
        return model

    @classmethod
    def _load_old_format(cls, path: Path) -> IntentModel:
        """A file of `OLD_MODEL_FORMAT`: skops reads it all, and the scorer is built from its pipeline."""
        payload = _read_skops(path, path)
        if not isinstance(payload, dict) or payload.get("format") != OLD_MODEL_FORMAT:
            raise ModelFileError(f"{path}: not an E-Team Inbox model file (format mismatch)")
        try:
            meta = _meta_from(json.loads(payload["meta"]))
            pipeline = payload["pipeline"]
            _restore(pipeline, json.loads(payload["vocabularies"]), None)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFileError(f"{path}: damaged E-Team Inbox model file ({exc})") from exc
        model = cls(pipeline, meta)
        model.file_format = OLD_MODEL_FORMAT
        return model


def _read_array(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    """One `.npy` member of a model file; never unpickles (object arrays are refused)."""
    with archive.open(name) as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def evaluate(
    model: IntentModel,
    texts: Sequence[str],
    labels: Sequence[str],
    topics: Sequence[str | None] | None = None,
) -> dict[str, Any]:
    """The metrics report `eteam evaluate --json` prints, for any labelled data.

    `coverage` is the share answered above threshold and `accuracy_at_threshold` the accuracy
    on that share; with an out-of-scope label, also in-scope accuracy and OOS recall.
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    predictions = model.predict_many(list(texts), topics)
    predicted = [p.intent for p in predictions]
    truth = list(labels)
    label_set = sorted(set(truth) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=label_set, zero_division=0
    )
    oos = model.meta.oos_label
    answered = [
        (p.intent, t) for p, t in zip(predictions, truth, strict=True)
        if p.above_threshold and p.intent != oos
    ]
    report: dict[str, Any] = {
        "n": len(truth),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4) if truth else 0.0,
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4)
        if truth
        else 0.0,
        "per_label": {
            label: {
                "precision": round(float(p), 4),
                "recall": round(float(r), 4),
                "f1": round(float(f), 4),
                "support": int(s),
            }
            for label, p, r, f, s in zip(label_set, precision, recall, f1, support, strict=True)
        },
        "coverage": round(len(answered) / len(truth), 4) if truth else 0.0,
        "accuracy_at_threshold": (
            round(sum(p == t for p, t in answered) / len(answered), 4) if answered else 0.0
        ),
    }
    if oos is not None:
        in_scope = [(p, t) for p, t in zip(predicted, truth, strict=True) if t != oos]
        out_scope = [(p, t) for p, t in zip(predicted, truth, strict=True) if t == oos]
        report["in_scope_accuracy"] = (
            round(sum(p == t for p, t in in_scope) / len(in_scope), 4) if in_scope else 0.0
        )
        report["oos_recall"] = (
            round(sum(p == oos for p, _ in out_scope) / len(out_scope), 4) if out_scope else 0.0
        )
    return report
