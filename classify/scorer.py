"""The intent model's inference arithmetic as plain numpy arrays: scoring without scikit-learn.

Importing scikit-learn, scipy and skops takes seconds on the 2-core machine (skops alone pulls
in pandas and scipy.stats), which `eteam ingest` used to pay at every start just to load the
model. Yet scoring a message needs no more than dictionary look-ups and a few array products.
`Scorer` is that: the fitted pipeline's TF-IDF blocks (vocabulary and idf), its static word
vectors, and the calibrated linear SVM's stacked fold weights, written so that its
probabilities equal `Pipeline.predict_proba` (checked by the tests against scikit-learn).

`Scorer.from_pipeline` builds one from a fitted pipeline (the only place that imports
scikit-learn, lazily); `layout` and `arrays` are how `classify.model` stores it beside the
pipeline, and `Scorer.from_parts` rebuilds it from those and the vocabularies (which the file
keeps as JSON for the pipeline too) with numpy alone.

Only settings this module reproduces are accepted: a TF-IDF step configured otherwise makes
`from_pipeline` raise, so a changed `build_pipeline` cannot score silently wrong; a block of
another kind (sentence embeddings) makes it return None, and the model then scores through
the pipeline as before.

This module imports numpy and the standard library only, and must stay that way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "WORD",
    "CalibratedLinear",
    "Scorer",
    "SparseRows",
    "TfidfBlock",
    "UnsupportedPipeline",
    "WordVectorBlock",
    "strip_accents_unicode",
    "word_vector_features",
]

#: a word as the static word vectors see one (`classify.word_vectors` uses this same pattern)
WORD = re.compile(r"(?u)\b\w+\b")
#: scikit-learn's default `token_pattern`, the only one a word TF-IDF block accepts
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
#: the TF-IDF settings `TfidfBlock` reproduces; a vectorizer with any other value is refused
TFIDF_SETTINGS: dict[str, Any] = {
    "input": "content",
    "lowercase": True,
    "strip_accents": "unicode",
    "preprocessor": None,
    "tokenizer": None,
    "stop_words": None,
    "token_pattern": DEFAULT_TOKEN_PATTERN,
    "binary": False,
    "norm": "l2",
    "use_idf": True,
    "sublinear_tf": True,
}
TFIDF_ANALYZERS = ("word", "char_wb")
#: scikit-learn collapses runs of whitespace like this before cutting character n-grams
_WHITE_SPACES = re.compile(r"\s\s+")


class UnsupportedPipeline(ValueError):
    """A feature step whose settings `Scorer` does not reproduce: scoring it would be wrong."""


class SparseRows(NamedTuple):
    """Rows of a sparse matrix in CSR form (what scipy would hold), without needing scipy.

    Each row's `indices` are sorted and unique, as in scikit-learn's TF-IDF output.
    """

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    n_columns: int


class _KeepUnlessCombining(dict[int, int | None]):
    """A `str.translate` table deleting combining marks, filled in as characters are met."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_WITHOUT_COMBINING = _KeepUnlessCombining()


def strip_accents_unicode(text: str) -> str:
    """scikit-learn's `strip_accents_unicode`: NFKD, then drop combining marks (ASCII untouched).

    The same result as scikit-learn's character-by-character join, in about 60% of the time.
    """
    if text.isascii():
        return text
    return unicodedata.normalize("NFKD", text).translate(_WITHOUT_COMBINING)


def _preprocess(text: str) -> str:
    """What a `lowercase=True, strip_accents="unicode"` vectorizer's preprocessor does."""
    return strip_accents_unicode(text.lower())


def _word_ngrams(tokens: list[str], min_n: int, max_n: int) -> list[str]:
    """scikit-learn's `_word_ngrams` without stop words: n-grams joined by one space."""
    if max_n == 1:
        return tokens
    if min_n == 1:
        grams = list(tokens)
        min_n = 2
    else:
        grams = []
    count = len(tokens)
    for n in range(min_n, min(max_n + 1, count + 1)):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(count - n + 1))
    return grams


def _char_wb_word_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """scikit-learn's `_char_wb_ngrams` for one word: space-padded, a short word counted once."""
    padded = " " + word + " "
    length = len(padded)
    grams: list[str] = []
    for n in range(min_n, max_n + 1):
        offset = 0
        grams.append(padded[offset : offset + n])
        while offset + n < length:
            offset += 1
            grams.append(padded[offset : offset + n])
        if offset == 0:  # the padded word is no longer than n: one n-gram, as scikit-learn
            break
    return grams


def _check_vocabulary(name: str, vocabulary: Mapping[str, int], size: int) -> None:
    """Raise ValueError unless `vocabulary` maps `size` entries to rows or columns 0..size-1."""
    if len(vocabulary) != size:
        raise ValueError(f"{name}: {len(vocabulary)} vocabulary entries for {size} rows")
    if size:
        index = np.fromiter(vocabulary.values(), dtype=np.int64, count=size)
        if index.min() < 0 or index.max() >= size:
            raise ValueError(f"{name}: vocabulary entries outside 0..{size - 1}")


def _check_tfidf_settings(settings: Mapping[str, Any], where: str) -> None:
    """Raise `UnsupportedPipeline` unless `settings` are ones `TfidfBlock` reproduces."""
    wrong = {k: settings.get(k, "<missing>") for k, v in TFIDF_SETTINGS.items() if settings.get(k, "<missing>") != v}
    analyzer = settings.get("analyzer")
    if analyzer not in TFIDF_ANALYZERS:
        wrong["analyzer"] = analyzer
    ngram_range = settings.get("ngram_range")
    if not (
        isinstance(ngram_range, list | tuple)
        and len(ngram_range) == 2
        and all(isinstance(n, int) for n in ngram_range)
        and 1 <= ngram_range[0] <= ngram_range[1]
    ):
        wrong["ngram_range"] = ngram_range
    if wrong:
        raise UnsupportedPipeline(f"{where}: TF-IDF settings the scorer does not reproduce: {wrong}")


class TfidfBlock:
    """A fitted `TfidfVectorizer`'s `transform`: n-gram counts, log(tf) + 1, times idf, L2 rows.

    With `analyzer="char_wb"` every n-gram lies inside one space-padded word, so a text's
    counts are the sum of its words' counts. Words recur from message to message, so each
    word's n-gram columns are found once and remembered (up to `WORD_LIMIT` words, then the
    memory starts afresh so that a long run cannot grow it forever): cutting and looking up
    every n-gram of every word again was the largest cost of classifying an e-mail.
    """

    #: words remembered; past this the memory starts afresh
    WORD_LIMIT = 100_000

    def __init__(
        self,
        name: str,
        analyzer: str,
        ngram_range: tuple[int, int],
        vocabulary: dict[str, int],
        idf: np.ndarray,
    ) -> None:
        _check_tfidf_settings({**TFIDF_SETTINGS, "analyzer": analyzer, "ngram_range": tuple(ngram_range)}, name)
        idf = np.asarray(idf)
        if idf.dtype != np.float64 or idf.ndim != 1:
            raise ValueError(f"{name}: idf of {idf.dtype} {idf.shape}, not one float64 row")
        _check_vocabulary(name, vocabulary, len(idf))
        self.name = name
        self.analyzer = analyzer
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.vocabulary = vocabulary
        self.idf = idf
        self.n_columns = len(idf)
        self._token = re.compile(DEFAULT_TOKEN_PATTERN)
        self._words: dict[str, np.ndarray] = {}

    @classmethod
    def from_vectorizer(cls, name: str, vectorizer: Any) -> TfidfBlock:
        """The block of a fitted `TfidfVectorizer`; `UnsupportedPipeline` if configured otherwise."""
        params = vectorizer.get_params(deep=False)
        _check_tfidf_settings(params, name)
        if np.dtype(params.get("dtype")) != np.float64:
            raise UnsupportedPipeline(f"{name}: TF-IDF dtype {params.get('dtype')} (the scorer computes in float64)")
        vocabulary = {str(term): int(column) for term, column in vectorizer.vocabulary_.items()}
        return cls(name, params["analyzer"], params["ngram_range"], vocabulary, np.asarray(vectorizer.idf_, dtype=np.float64))

    def layout(self) -> dict[str, Any]:
        """The block's settings as JSON (its vocabulary and idf travel separately)."""
        return {"kind": "tfidf", "name": self.name, "analyzer": self.analyzer, "ngram_range": list(self.ngram_range)}

    def _columns(self, docs: Sequence[str], remember: bool) -> tuple[np.ndarray, np.ndarray]:
        """(text, column) of every in-vocabulary n-gram of the preprocessed `docs`, repeats kept."""
        min_n, max_n = self.ngram_range
        vocabulary = self.vocabulary
        lengths = np.zeros(len(docs), dtype=np.intp)
        if self.analyzer == "word":
            get = vocabulary.get
            found: list[int] = []
            for row, doc in enumerate(docs):
                grams = _word_ngrams(self._token.findall(doc), min_n, max_n)
                found.extend(map(get, grams, repeat(-1)))  # -1: not in the vocabulary
                lengths[row] = len(grams)
            columns = np.array(found, dtype=np.int64)
            known = columns >= 0
            return np.repeat(np.arange(len(docs)), lengths)[known], columns[known]
        memory = self._words if remember else {}
        parts: list[np.ndarray] = []
        for row, doc in enumerate(docs):
            length = 0
            for word in _WHITE_SPACES.sub(" ", doc).split():
                found_word = memory.get(word)
                if found_word is None:
                    grams = _char_wb_word_ngrams(word, min_n, max_n)
                    found_word = np.array([vocabulary[g] for g in grams if g in vocabulary], dtype=np.int64)
                    if remember:
                        memory[word] = found_word
                parts.append(found_word)
                length += len(found_word)
            lengths[row] = length
        columns = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return np.repeat(np.arange(len(docs)), lengths), columns

    def rows(self, texts: Sequence[str], *, remember: bool = True) -> SparseRows:
        """The TF-IDF rows of `texts`, as `TfidfVectorizer.transform` gives them.

        `remember=False` skips the per-word memory (for the tests that check it changes nothing).
        """
        return self._rows([_preprocess(text) for text in texts], remember)

    def _rows(self, docs: Sequence[str], remember: bool = True) -> SparseRows:
        """`rows` of texts already lower-cased and stripped of accents (`_preprocess`)."""
        if len(self._words) > self.WORD_LIMIT:
            self._words.clear()
        n = len(docs)
        row_of, columns = self._columns(docs, remember)
        # count each (text, column) pair with one sort of the whole batch: rows, then columns
        # in order, as in scikit-learn's sorted CSR rows
        keys = row_of * self.n_columns + columns
        keys.sort()
        first = np.empty(len(keys), dtype=bool)
        first[:1] = True
        np.not_equal(keys[1:], keys[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        ends = np.empty_like(starts)
        ends[:-1] = starts[1:]
        ends[-1:] = len(keys)
        values = (ends - starts).astype(np.float64)
        row_of, columns = np.divmod(keys[starts], self.n_columns)
        indptr = np.zeros(n + 1, dtype=np.intp)
        np.cumsum(np.bincount(row_of, minlength=n), out=indptr[1:])
        # the operations of TfidfTransformer.transform and of scikit-learn's in-place L2 row
        # normalisation, in the same order: the numbers are identical, not just close
        np.log(values, out=values)
        values += 1.0
        values *= self.idf[columns]
        norms = np.sqrt(np.bincount(row_of, weights=values * values, minlength=n))
        values /= norms[row_of]
        return SparseRows(indptr, columns, values, self.n_columns)


def _side_by_side(blocks: Sequence[tuple[SparseRows, int]], n: int) -> SparseRows:
    """Sparse blocks of the same `n` rows joined column-wise (as scipy's `hstack`).

    Each block comes with the column where it starts; one row's entries stay together, so
    a text meets all its weights in one product.
    """
    if len(blocks) == 1:
        rows, start = blocks[0]
        return SparseRows(rows.indptr, rows.indices + start, rows.values, start + rows.n_columns)
    lengths = [rows.indptr[1:] - rows.indptr[:-1] for rows, _ in blocks]
    indptr = np.zeros(n + 1, dtype=np.intp)
    np.cumsum(np.sum(lengths, axis=0), out=indptr[1:])
    columns = np.empty(indptr[-1], dtype=np.int64)
    values = np.empty(indptr[-1])
    place = indptr[:-1].copy()  # where each row's entries of the next block go
    for (rows, start), length in zip(blocks, lengths, strict=True):
        row_of = np.repeat(np.arange(n), length)
        into = place[row_of] + np.arange(len(rows.indices)) - rows.indptr[row_of]
        columns[into] = rows.indices + start
        values[into] = rows.values
        place += length
    return SparseRows(indptr, columns, values, max(start + rows.n_columns for rows, start in blocks))


def word_vector_features(
    texts: Sequence[str], vocabulary: Mapping[str, int], vectors: np.ndarray, weight: float
) -> np.ndarray:
    """Per text, the sum of its known words' vectors, L2-normalised and scaled by `weight`.

    The one implementation of `classify.word_vectors.StaticWordVectors.transform`, kept here so
    that the scorer and the fitted pipeline cannot drift apart. Words are `WORD` matches of the
    text as given; unknown words add nothing and a text with none gives a zero row. float32 in,
    float32 out.
    """
    get = vocabulary.get
    summed = np.zeros((len(texts), vectors.shape[1]), dtype=vectors.dtype)
    for row, text in enumerate(texts):
        found = [i for i in map(get, WORD.findall(text)) if i is not None]
        if found:  # row by row, in order: the same float32 sums as a sparse product
            np.add.reduce(vectors[found], axis=0, out=summed[row])
    norms = np.linalg.norm(summed, axis=1, keepdims=True)
    return summed * (np.float32(weight) / np.where(norms > 0, norms, 1.0))


class WordVectorBlock:
    """A fitted `StaticWordVectors` step: its vocabulary, float32 vectors and weight."""

    def __init__(self, name: str, vocabulary: dict[str, int], vectors: np.ndarray, weight: float) -> None:
        vectors = np.asarray(vectors)
        if vectors.dtype != np.float32 or vectors.ndim != 2:
            raise ValueError(f"{name}: vectors of {vectors.dtype} {vectors.shape}, not float32 rows")
        _check_vocabulary(name, vocabulary, len(vectors))
        self.name = name
        self.vocabulary = vocabulary
        self.vectors = vectors
        self.weight = float(weight)
        self.n_columns = int(vectors.shape[1])

    @classmethod
    def from_step(cls, name: str, step: Any) -> WordVectorBlock:
        """The block of a fitted `classify.word_vectors.StaticWordVectors`."""
        vocabulary = {str(word): int(row) for word, row in step.vocabulary_.items()}
        return cls(name, vocabulary, np.ascontiguousarray(step.vectors_, dtype=np.float32), step.weight)

    def layout(self) -> dict[str, Any]:
        """The block's settings as JSON (its vocabulary and vectors travel separately)."""
        return {"kind": "word_vectors", "name": self.name, "weight": self.weight}

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """The block's dense rows for `texts` (`StaticWordVectors.transform`)."""
        return word_vector_features(texts, self.vocabulary, self.vectors, self.weight)


Block = TfidfBlock | WordVectorBlock


class CalibratedLinear:
    """`CalibratedClassifierCV(LinearSVC, method="sigmoid").predict_proba` as one matrix product.

    scikit-learn computes each fold model's probabilities class by class in Python, which for
    one message costs more than the features; stacking every fold's weights gives the same
    numbers in a fraction of the time. Column `k * n_classes + c` of `weights_t` is fold k's
    weights for class c (zeros, and `present` False, for a class the fold never saw).
    """

    ARRAYS = ("weights_t", "intercept", "slope", "offset", "present")

    def __init__(
        self,
        weights_t: np.ndarray,
        intercept: np.ndarray,
        slope: np.ndarray,
        offset: np.ndarray,
        present: np.ndarray,
    ) -> None:
        n_folds, n_classes = present.shape
        columns = n_folds * n_classes
        if (
            any(a.dtype != np.float64 for a in (weights_t, intercept, slope, offset))
            or weights_t.ndim != 2
            or weights_t.shape[1] != columns
            or intercept.shape != (columns,)
            or slope.shape != present.shape
            or offset.shape != present.shape
            or present.dtype != np.bool_
        ):
            raise ValueError("calibrated linear arrays of inconsistent shapes")
        self.weights_t = weights_t
        self.intercept = intercept
        self.slope = slope
        self.offset = offset
        self.present = present
        self.n_folds, self.n_classes = n_folds, n_classes

    @staticmethod
    def applicable(classifier: Any) -> bool:
        """True for a fitted sigmoid `CalibratedClassifierCV` over multi-class `LinearSVC`s."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        try:
            from sklearn.calibration import _SigmoidCalibration
        except ImportError:  # a scikit-learn whose calibrators this module does not know
            return False

        folds = getattr(classifier, "calibrated_classifiers_", None)
        return (
            isinstance(classifier, CalibratedClassifierCV)
            and classifier.method == "sigmoid"
            and bool(folds)
            and len(classifier.classes_) > 2
            and all(
                isinstance(f.estimator, LinearSVC)
                and f.method == "sigmoid"
                and np.shape(f.estimator.coef_)[0] == len(f.estimator.classes_) == len(f.calibrators)
                and all(isinstance(c, _SigmoidCalibration) for c in f.calibrators)
                for f in folds
            )
        )

    @classmethod
    def from_classifier(cls, calibrated: Any) -> CalibratedLinear:
        """Stack the folds of a fitted classifier for which `applicable` is True."""
        classes = list(calibrated.classes_)
        folds = calibrated.calibrated_classifiers_
        n_folds, n_classes = len(folds), len(classes)
        n_features = np.shape(folds[0].estimator.coef_)[1]
        weights_t = np.zeros((n_features, n_folds * n_classes))
        intercept = np.zeros(n_folds * n_classes)
        slope = np.zeros((n_folds, n_classes))
        offset = np.zeros((n_folds, n_classes))
        present = np.zeros((n_folds, n_classes), dtype=bool)
        for k, fold in enumerate(folds):
            estimator = fold.estimator
            index = [classes.index(c) for c in estimator.classes_]
            columns = [k * n_classes + i for i in index]
            weights_t[:, columns] = np.asarray(estimator.coef_, dtype=np.float64).T
            intercept[columns] = estimator.intercept_
            for class_idx, calibrator in zip(index, fold.calibrators, strict=True):
                slope[k, class_idx] = calibrator.a_
                offset[k, class_idx] = calibrator.b_
                present[k, class_idx] = True
        return cls(weights_t, intercept, slope, offset, present)

    def fold_coef(self, fold: int, class_indices: Sequence[int]) -> np.ndarray:
        """Fold `fold`'s `coef_` for the given classes, as `LinearSVC` held it (to restore one)."""
        columns = [fold * self.n_classes + i for i in class_indices]
        return np.ascontiguousarray(self.weights_t[:, columns].T)

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Mean over folds of the sigmoid-calibrated, normalised probabilities of `scores`.

        `scores` holds each fold's decision values (intercept included), one column per
        `weights_t` column; the steps are `_CalibratedClassifier.predict_proba`'s.
        """
        scores = scores.reshape(-1, self.n_folds, self.n_classes)
        proba = 1.0 / (1.0 + np.exp(self.slope * scores + self.offset))
        proba = np.where(self.present, proba, 0.0)
        total = proba.sum(axis=2, keepdims=True)
        proba = np.divide(proba, total, out=np.full_like(proba, 1.0 / self.n_classes), where=total != 0)
        proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
        return proba.mean(axis=1)


class Scorer:
    """A trained intent pipeline's `predict_proba`, from plain arrays: see the module doc."""

    def __init__(self, classes: Sequence[str], blocks: Sequence[Block], linear: CalibratedLinear) -> None:
        if not blocks:
            raise ValueError("a scorer needs at least one feature block")
        if len(classes) != linear.n_classes:
            raise ValueError(f"{len(classes)} classes but weights for {linear.n_classes}")
        if sum(b.n_columns for b in blocks) != linear.weights_t.shape[0]:
            raise ValueError(
                f"feature blocks of {sum(b.n_columns for b in blocks)} columns "
                f"but weights for {linear.weights_t.shape[0]}"
            )
        self.classes = [str(c) for c in classes]
        self.blocks = list(blocks)
        self.linear = linear
        self._spans: list[tuple[int, int]] = []
        start = 0
        for block in self.blocks:
            self._spans.append((start, start + block.n_columns))
            start += block.n_columns

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> Scorer | None:
        """The scorer of a fitted `build_pipeline` pipeline, or None if a block has no scorer form.

        None (for example with sentence embeddings, or a classifier that is not a sigmoid-
        calibrated multi-class `LinearSVC`) means: score through the pipeline. A TF-IDF step
        with settings this module does not reproduce raises `UnsupportedPipeline` instead.
        """
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion, Pipeline

        from classify.word_vectors import StaticWordVectors

        if not isinstance(pipeline, Pipeline) or [name for name, _ in pipeline.steps] != ["features", "classifier"]:
            return None
        union = pipeline.named_steps["features"]
        classifier = pipeline.named_steps["classifier"]
        if not isinstance(union, FeatureUnion) or union.transformer_weights is not None:
            return None
        if not CalibratedLinear.applicable(classifier):
            return None
        blocks: list[Block] = []
        for name, step in union.transformer_list:
            if isinstance(step, TfidfVectorizer):
                blocks.append(TfidfBlock.from_vectorizer(name, step))
            elif isinstance(step, StaticWordVectors):
                blocks.append(WordVectorBlock.from_step(name, step))
            else:
                return None
        return cls([str(c) for c in classifier.classes_], blocks, CalibratedLinear.from_classifier(classifier))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, one row per text, columns in `classes` order (float64)."""
        weights_t = self.linear.weights_t
        scores = np.empty((len(texts), weights_t.shape[1]))
        scores[:] = self.linear.intercept
        docs = [_preprocess(text) for text in texts]  # the TF-IDF blocks' preprocessing, done once
        sparse: list[tuple[SparseRows, int]] = []
        for block, (start, stop) in zip(self.blocks, self._spans, strict=True):
            if isinstance(block, TfidfBlock):
                sparse.append((block._rows(docs), start))
            else:
                scores += block.features(texts) @ weights_t[start:stop]
        if sparse:
            indptr, columns, values, _ = _side_by_side(sparse, len(texts))
            for row, (begin, end) in enumerate(zip(indptr[:-1].tolist(), indptr[1:].tolist(), strict=True)):
                if end > begin:  # gather the text's weight rows: no sparse matrix library needed
                    scores[row] += values[begin:end] @ weights_t[columns[begin:end]]
        return self.linear.probabilities(scores)

    # -- storage: JSON layout and named arrays (see `IntentModel.save` for the file format)

    def layout(self) -> dict[str, Any]:
        """Everything but arrays and vocabularies, as JSON-ready data."""
        return {"classes": self.classes, "blocks": [block.layout() for block in self.blocks]}

    def arrays(self) -> dict[str, np.ndarray]:
        """The scorer's arrays by name (`<block name>.idf`, `<block name>.vectors`, `linear.*`)."""
        arrays = {f"linear.{name}": getattr(self.linear, name) for name in CalibratedLinear.ARRAYS}
        for block in self.blocks:
            if isinstance(block, TfidfBlock):
                arrays[f"{block.name}.idf"] = block.idf
            else:
                arrays[f"{block.name}.vectors"] = block.vectors
        return arrays

    @classmethod
    def from_parts(
        cls, layout: Mapping[str, Any], arrays: Mapping[str, np.ndarray], vocabularies: Sequence[dict[str, int]]
    ) -> Scorer:
        """A scorer from what `layout`, `arrays` and `vocabularies` gave; ValueError if inconsistent."""
        specs = layout["blocks"]
        if len(specs) != len(vocabularies):
            raise ValueError(f"{len(specs)} feature blocks but {len(vocabularies)} vocabularies")
        blocks: list[Block] = []
        for spec, vocabulary in zip(specs, vocabularies, strict=True):
            name = str(spec["name"])
            if spec["kind"] == "tfidf":
                blocks.append(TfidfBlock(name, spec["analyzer"], tuple(spec["ngram_range"]), vocabulary, arrays[f"{name}.idf"]))
            elif spec["kind"] == "word_vectors":
                blocks.append(WordVectorBlock(name, vocabulary, arrays[f"{name}.vectors"], float(spec["weight"])))
            else:
                raise ValueError(f"unknown feature block kind {spec['kind']!r}")
        linear = CalibratedLinear(*(arrays[f"linear.{name}"] for name in CalibratedLinear.ARRAYS))
        return cls(layout["classes"], blocks, linear)
