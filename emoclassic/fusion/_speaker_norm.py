"""Per-speaker standardisation: the "speaker-normalised" protocol as an ordinary pipeline step.

Each speaker's feature vectors are centred and scaled with that speaker's own mean and standard
deviation, which removes much of the voice (pitch range, loudness, channel) from emotional
variation. Only the speaker column is read, never the labels, so the step can run inside each
CV fold and inside a saved model:

- ``fit`` learns global statistics (the fallback) and the statistics of every training speaker;
- ``transform`` uses the stored statistics for a speaker seen in ``fit``; for a speaker not seen
  in ``fit`` it uses the statistics of that speaker's rows *in the batch being transformed*
  (the transductive part of the protocol: predict all of a new speaker's files together);
- a new speaker with fewer than ``min_rows`` rows in the batch (a single file, typically) and
  rows with no speaker fall back to the global statistics, with a warning: the protocol needs
  several utterances per speaker at prediction time.

Because extractors turn the manifest into a bare matrix, the speaker ids would be lost after
extraction; so the normaliser *wraps* the block's extractor: it reads the speaker column from
the frame it is given, runs the wrapped transformer on the same frame and normalises the
result. With ``transformer=None`` the frame's numeric columns (other than the speaker column)
are the features.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from .._deprecate import DEPRECATED, renamed
from ..exceptions import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = ["SpeakerNormalizer", "SpeakerNormalizationWarning"]

_EPS = 1e-8


class SpeakerNormalizationWarning(UserWarning):
    """A row was normalised with global statistics because its speaker had too few rows."""


def _speaker_keys(values: pd.Series) -> np.ndarray:
    """Speaker ids as strings; missing ids become None."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values.tolist()):
        missing = (
            v is None
            or (isinstance(v, float) and np.isnan(v))
            or (isinstance(v, str) and not v.strip())
        )
        out[i] = None if missing else str(v)
    return out


class SpeakerNormalizer(TransformerMixin, BaseEstimator):
    """Standardise features per speaker (labels are never read).

    Parameters
    ----------
    transformer : transformer or None
        Turns the frame into features (a block's extractor). None: the frame's numeric columns,
        the speaker column excluded, are the features.
    speaker_column : str
        The column of the frame that says who spoke.
    min_rows : int
        Fewest rows a speaker unseen in ``fit`` needs in a batch to use its own statistics.
    with_std : bool
        Also divide by each speaker's standard deviation (else only centre).
    column : str
        The old name of ``speaker_column`` (deprecated; removed in 0.3).
    """

    def __init__(
        self,
        transformer: Any = None,
        *,
        speaker_column: str = "speaker",
        min_rows: int = 2,
        with_std: bool = True,
        column=DEPRECATED,
    ):
        self.transformer = transformer
        self.speaker_column = speaker_column
        self.min_rows = min_rows
        self.with_std = with_std
        self.column = column

    @property
    def _column(self) -> str:
        # a model pickled before the rename has only ``column``
        return renamed("column", getattr(self, "column", DEPRECATED), "speaker_column",
                       getattr(self, "speaker_column", "speaker"), default="speaker",
                       stacklevel=5)

    # -- helpers ----------------------------------------------------------------------------
    def _check_params(self) -> None:
        if (
            isinstance(self.min_rows, bool)
            or not isinstance(self.min_rows, (int, np.integer))
            or (self.min_rows < 2)
        ):
            raise ConfigError(
                f"SpeakerNormalizer: min_rows={self.min_rows!r} must be an integer >= 2 "
                "(one row has no spread)"
            )

    def _speakers(self, X) -> np.ndarray:
        if not isinstance(X, pd.DataFrame):
            raise DataError(
                "SpeakerNormalizer needs a manifest DataFrame with a "
                f"{self._column!r} column; got {type(X).__name__}"
            )
        column = self._column
        if column not in X.columns:
            return np.full(len(X), None, dtype=object)
        return _speaker_keys(X[column])

    def _features(self, X, *, fit: bool, y=None) -> np.ndarray:
        if self.transformer is None:
            cols = [c for c in X.columns if c != self._column]
            frame = X[cols].select_dtypes(include="number")
            if fit:
                self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
            return frame.to_numpy(dtype=np.float64)
        if fit:
            self.transformer_ = clone(self.transformer)
            F = self.transformer_.fit_transform(X, y)
        else:
            F = self.transformer_.transform(X)
        if hasattr(F, "toarray"):
            F = F.toarray()
        return np.asarray(F, dtype=np.float64)

    def _stats(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.nanmean(F, axis=0) if len(F) else np.zeros(F.shape[1])
        if not self.with_std or len(F) < 2:
            return mean, np.ones_like(mean)
        std = np.nanstd(F, axis=0)
        # A feature constant within a speaker carries no within-speaker information: centre it.
        return mean, np.where(std > _EPS, std, 1.0)

    # -- API --------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Learn global and per-speaker statistics of the training rows (``y`` is ignored)."""
        self._fit(X)
        return self

    def _fit(self, X) -> np.ndarray:
        self._check_params()
        F = self._features(X, fit=True)
        speakers = self._speakers(X)
        self.mean_, self.scale_ = self._stats(F)
        self.speaker_stats_: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
        for spk in sorted({s for s in speakers if s is not None}):
            rows = F[speakers == spk]
            mean, scale = self._stats(rows)
            if len(rows) < self.min_rows:
                mean, scale = self.mean_, self.scale_
            self.speaker_stats_[spk] = (mean, scale, len(rows))
        self.n_features_out_ = F.shape[1]
        return F

    def fit_transform(self, X, y=None, **fit_params):
        F = self._fit(X)
        return self._apply(F, self._speakers(X), fitting=True)

    def transform(self, X) -> np.ndarray:
        """Normalise each row with its speaker's statistics (see the module docs for which)."""
        check_is_fitted(self, "mean_")
        F = self._features(X, fit=False)
        return self._apply(F, self._speakers(X), fitting=False)

    def _apply(self, F: np.ndarray, speakers: np.ndarray, *, fitting: bool) -> np.ndarray:
        out = np.empty_like(F)
        fallback: list[str] = []
        n_fallback_rows = 0
        for spk in dict.fromkeys(speakers.tolist()):
            rows = (
                speakers == spk
                if spk is not None
                else np.array([s is None for s in speakers], dtype=bool)
            )
            if spk is not None and spk in self.speaker_stats_:
                mean, scale, _ = self.speaker_stats_[spk]
            elif spk is not None and rows.sum() >= self.min_rows:
                mean, scale = self._stats(F[rows])
            else:
                mean, scale = self.mean_, self.scale_
                if not fitting or spk is None:
                    fallback.append("<missing>" if spk is None else spk)
                    n_fallback_rows += int(rows.sum())
            out[rows] = (F[rows] - mean) / scale
        if fallback:
            msg = (
                f"speaker normalisation: {n_fallback_rows} row(s) of {len(fallback)} speaker(s) "
                f"({', '.join(fallback[:3])}{'...' if len(fallback) > 3 else ''}) have no "
                f"speaker id or fewer than {self.min_rows} rows of an unseen speaker, so they "
                "were normalised with global statistics; this protocol needs several utterances "
                "per speaker: predict all of a speaker's files together, or use an inductive spec"
            )
            logger.warning(msg)
            warnings.warn(msg, SpeakerNormalizationWarning, stacklevel=3)
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "mean_")
        if self.transformer is None:
            return np.asarray(self.feature_names_in_, dtype=object)
        if hasattr(self.transformer_, "get_feature_names_out"):
            return np.asarray(self.transformer_.get_feature_names_out(), dtype=object)
        return np.asarray([f"f{i}" for i in range(self.n_features_out_)], dtype=object)
