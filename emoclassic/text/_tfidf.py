"""TF-IDF over the transcript: the classic text baseline, word and/or character n-grams.

TF-IDF errs differently from sentence vectors (it sees exact words, names, catch-phrases and
punctuation such as "!!" or "?!"), so it is both a baseline and a useful second text block.
Unlike the embedders it learns a vocabulary and document frequencies in ``fit``: keep it inside
the cross-validation pipeline.
"""

from __future__ import annotations

import logging
import numbers
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..exceptions import ConfigError, DataError
from ._context import check_text_options, context_windows, feature_names, text_input_tags

logger = logging.getLogger(__name__)

__all__ = ["TfidfText"]

_ANALYZERS = ("word", "char_wb", "both")


class TfidfText(TransformerMixin, BaseEstimator):
    """TF-IDF of each utterance's text (optionally with its dialogue context).

    Parameters
    ----------
    analyzer : "word", "char_wb" or "both"
        Word n-grams, character n-grams inside word boundaries, or both side by side.
    word_ngram_range, char_ngram_range : (int, int)
        n-gram sizes of the word and the character analyzer.
    min_df, max_df, max_features, sublinear_tf, lowercase
        As in :class:`sklearn.feature_extraction.text.TfidfVectorizer` (per analyzer).
    context_past, context_future, speaker_names
        Read each utterance with the turns around it, as :class:`SentenceEmbedder` does
        (the turns are appended to the same document).
    missing : "zero" or "error"
        Missing/empty text: an all-zero row plus a final ``text_missing`` column, or DataError.

    Attributes
    ----------
    vectorizers_ : list of (prefix, TfidfVectorizer or None)
        The fitted vectorizers, ``"w"`` (words) and/or ``"c"`` (characters); None when every
        training text was missing (``missing="zero"``: the block is then ``text_missing`` only).
    """

    def __init__(
        self,
        *,
        analyzer: str = "word",
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (2, 5),
        min_df: int | float = 1,
        max_df: int | float = 1.0,
        max_features: int | None = None,
        sublinear_tf: bool = True,
        lowercase: bool = True,
        context_past: int = 0,
        context_future: int = 0,
        speaker_names: bool = False,
        missing: str = "zero",
    ):
        self.analyzer = analyzer
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.lowercase = lowercase
        self.context_past = context_past
        self.context_future = context_future
        self.speaker_names = speaker_names
        self.missing = missing

    def _check_params(self) -> None:
        if self.analyzer not in _ANALYZERS:
            raise ConfigError(f"analyzer={self.analyzer!r} is not valid; use one of {_ANALYZERS}")
        check_text_options(self.missing, self.context_past, self.context_future)
        for name in ("word_ngram_range", "char_ngram_range"):
            r = getattr(self, name)
            ok = (
                isinstance(r, (tuple, list))
                and len(r) == 2
                and all(isinstance(v, numbers.Integral) and v >= 1 for v in r)
                and r[0] <= r[1]
            )
            if not ok:
                raise ConfigError(f"{name}={r!r} is not valid; use (min_n, max_n), 1 <= min <= max")

    def _documents(self, X: Any) -> tuple[list[str], np.ndarray]:
        """One document per row and the mask of rows whose text is missing."""
        rows, windows = context_windows(
            X,
            past=self.context_past,
            future=self.context_future,
            speaker_names=self.speaker_names,
        )
        missing = np.array([w.target is None for w in windows], dtype=bool)
        if self.missing == "error" and missing.any():
            bad = rows.ids[int(np.flatnonzero(missing)[0])]
            raise DataError(
                f"row {bad!r}: text is missing or empty ({int(missing.sum())} row(s) in all); "
                "fill it in, drop the rows or use missing='zero'"
            )
        docs = ["" if w.target is None else w.render(" ") for w in windows]
        return docs, missing

    def _make_vectorizers(self) -> list[tuple[str, Any]]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        common = {
            "min_df": self.min_df,
            "max_df": self.max_df,
            "max_features": self.max_features,
            "sublinear_tf": self.sublinear_tf,
            "lowercase": self.lowercase,
            "dtype": np.float32,
        }
        out = []
        if self.analyzer in ("word", "both"):
            out.append(
                (
                    "w",
                    TfidfVectorizer(
                        analyzer="word",
                        ngram_range=tuple(self.word_ngram_range),
                        token_pattern=r"(?u)\b\w+\b|[!?]+",
                        **common,
                    ),
                )
            )
        if self.analyzer in ("char_wb", "both"):
            out.append(
                (
                    "c",
                    TfidfVectorizer(
                        analyzer="char_wb", ngram_range=tuple(self.char_ngram_range), **common
                    ),
                )
            )
        return out

    def fit(self, X: Any, y: Any = None) -> TfidfText:
        """Learn the vocabulary and document frequencies of the training texts."""
        self._check_params()
        docs, missing = self._documents(X)
        vectorizers = self._make_vectorizers()
        if self.missing == "zero" and missing.all():
            # a corpus (or fold) without transcripts: no vocabulary to learn, but a fused spec
            # must still run on it; the block is then just the text_missing column
            logger.warning(
                "TfidfText: all %d training texts are missing or empty; the block holds only "
                "the text_missing column",
                len(docs),
            )
            self.vectorizers_ = [(prefix, None) for prefix, _ in vectorizers]
            return self
        for prefix, vec in vectorizers:
            try:
                vec.fit(docs)
            except ValueError as exc:  # e.g. empty vocabulary
                raise DataError(
                    f"TfidfText ({'words' if prefix == 'w' else 'characters'}): {exc}; "
                    "give it more (non-empty) texts or lower min_df"
                ) from exc
        self.vectorizers_ = vectorizers
        return self

    def transform(self, X: Any) -> sp.csr_matrix:
        """Sparse TF-IDF rows (float32), plus the ``text_missing`` column when asked."""
        check_is_fitted(self, "vectorizers_")
        docs, missing = self._documents(X)
        blocks = [
            sp.csr_matrix((len(docs), 0), dtype=np.float32) if vec is None else vec.transform(docs)
            for _, vec in self.vectorizers_
        ]
        if self.missing == "zero":
            blocks.append(sp.csr_matrix(missing.astype(np.float32)[:, None]))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``w:<word n-gram>`` and/or ``c:<char n-gram>`` (plus ``text_missing``)."""
        check_is_fitted(self, "vectorizers_")
        names = [
            f"{prefix}:{name}"
            for prefix, vec in self.vectorizers_
            if vec is not None
            for name in vec.get_feature_names_out()
        ]
        return feature_names(names, self.missing)

    def __sklearn_tags__(self):
        return text_input_tags(super().__sklearn_tags__())
