"""What every audio extractor shares: reading ``X`` (manifest, paths or waveform rows) into
items, decoding files through :func:`load_audio`, and the audinterface-style ``process_*``
helpers that go through the feature cache.

Input contract (all audio extractors): ``X`` is one of

* a manifest DataFrame or a sub-frame with at least a ``path`` column; ``id`` (else the frame's
  index), ``start`` and ``end`` (seconds, missing = whole file) are used when present;
* a list, array or Series of paths (the id is the path), or a single path;
* a 2-D numeric array whose rows are waveforms at ``sr`` (uncached; this is what scikit-learn's
  estimator checks feed), or a list of 1-D float arrays of any lengths.

A manifest row may also hold its audio in memory: a :class:`Waveform` (samples at their own
rate) in a ``waveform`` column, which then wins over ``path``. ``start``/``end`` cut it as
they cut a file, it is resampled to the extractor's rate as a file is, and it is never cached
(an array has no identity to key the feature store by), so nothing is written for it.

It also holds the few things several extractors did alike and now do here once: BLAS held to
one thread while a batch computes (:func:`single_thread_blas`, ``_single_thread_blas``) and
the check of ``input_features`` that opens ``get_feature_names_out``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

from ..exceptions import AudioError, DataError
from ..features import BaseExtractor, Item, file_identity
from ._io import _as_seconds, integer_pcm_to_float, load_audio, trim_silence

logger = logging.getLogger(__name__)

__all__ = ["AudioExtractor", "Waveform", "audio_items"]

_CONTROLLER = None


def single_thread_blas():
    """Context limiting BLAS to one thread: our matrix products are tiny, and idle BLAS threads
    spinning beside the main one slow them several-fold on a loaded machine."""
    global _CONTROLLER
    if _CONTROLLER is None:
        import scipy.fft  # noqa: F401 - load every BLAS before the controller looks for them
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


class Waveform:
    """Audio already in memory, for a manifest's ``waveform`` column: mono float32 samples
    at their own sample rate ``sr`` (Hz).

    Why a cell rather than a temporary file: an application that records or receives audio
    should not have to write it to disk to predict, and the extractors then decode nothing.
    Build it with :meth:`from_array`, which checks the samples once (one-line
    :class:`AudioError`) and mixes channels down as a decoded file's are mixed.
    """

    __slots__ = ("samples", "sr")

    def __init__(self, samples: np.ndarray, sr: int) -> None:
        self.samples = samples
        self.sr = sr

    def __repr__(self) -> str:
        return f"Waveform({self.duration:.3f} s at {self.sr} Hz)"

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.samples.shape[0] / self.sr

    @classmethod
    def from_array(cls, waveform, sr: int, *, name: str = "waveform") -> Waveform:
        """Check and convert ``waveform``: a 1-D array, or 2-D with channels on the shorter
        axis (``(frames, channels)`` as soundfile returns, or ``(channels, frames)`` as librosa
        does), of finite samples (float in [-1, 1] by convention; integers are scaled from
        their type's full range) at ``sr`` Hz. Channels are averaged to mono in float32,
        exactly as a decoded file's are, so the same samples predict the same as their file."""
        if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
            raise AudioError(f"{name}: sr={sr!r} must be the sample rate in Hz, a positive "
                             "integer such as 16000")
        y = np.asarray(waveform)
        if y.dtype.kind in "iu":  # PCM integers: full scale = the type's range
            y = integer_pcm_to_float(y)
        elif y.dtype.kind != "f":
            raise AudioError(f"{name}: samples of type {y.dtype} are not audio; give a float "
                             "or integer array")
        if y.ndim == 2:
            y = y.astype(np.float32, copy=False)
            y = (y if y.shape[0] >= y.shape[1] else y.T).mean(axis=1)
        elif y.ndim != 1:
            raise AudioError(f"{name}: an array of shape {y.shape} is not a waveform; give 1-D "
                             "samples or 2-D (frames, channels)")
        y = np.ascontiguousarray(y, dtype=np.float32)
        if y.size == 0:
            raise AudioError(f"{name}: the waveform holds no samples; give at least one")
        if not np.isfinite(y).all():
            bad = int(np.argmin(np.isfinite(y)))
            raise AudioError(f"{name}: contains NaN or infinite samples (first at "
                             f"{bad / int(sr):.3f} s); clean the array")
        return cls(y, int(sr))


def _is_pathlike(x) -> bool:
    return isinstance(x, (str, os.PathLike))


def _file_item(item_id: str, path, start, end) -> Item:
    if path is None or (not _is_pathlike(path) and _missing(path)):
        return Item(item_id, None, ("missing", None, None, None))
    path = os.fspath(path)
    try:
        start_s, end_s = _as_seconds(start), _as_seconds(end)
    except AudioError as exc:
        return Item(item_id, None, ("error", path, str(exc), None))
    try:
        key = (file_identity(path), start_s, end_s)
    except OSError:
        key = None  # missing/unreadable: not cached, fails with a clear message when computed
    return Item(item_id, key, ("file", path, start_s, end_s))


def _array_item(item_id: str, wave: Waveform, start, end) -> Item:
    """An in-memory row: the ``[start, end)`` seconds of ``wave`` (a view), never cached."""
    n = wave.samples.shape[0]
    try:
        start_s, end_s = _as_seconds(start), _as_seconds(end)
    except AudioError as exc:
        return Item(item_id, None, ("error", item_id, str(exc), None))
    a = int(round((start_s or 0.0) * wave.sr))
    b = n if end_s is None else min(n, int(round(end_s * wave.sr)))
    if a < 0 or a >= n or b <= a:
        why = (f"segment [{start_s}, {end_s}] s is outside the waveform's {n / wave.sr:.3f} s; "
               "fix start/end")
        return Item(item_id, None, ("error", item_id, why, None))
    # the last part names the source (the Waveform and the segment) for blocks that share a
    # segment's analysis (PooledFeatures): the view itself is new for every block
    return Item(item_id, None, ("array", wave.samples[a:b], wave.sr, (wave, a, b)))


def _missing(value) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _frame_items(est, X, *, reset: bool = False) -> list[Item]:
    import pandas as pd

    cols = list(X.columns)
    if "path" not in cols:
        if len(cols) and all(pd.api.types.is_numeric_dtype(X[c]) for c in cols):
            return _wave_items(est, X, reset=reset)
        raise DataError(
            f"X has no 'path' column (columns: {cols[:8]}); pass a manifest or a sub-frame with "
            "at least 'path' (and optionally 'id', 'start', 'end')"
        )
    n = len(X)
    ids = X["id"].tolist() if "id" in cols else list(X.index)
    ids = [str(i) if not _missing(i) else str(idx) for i, idx in zip(ids, X.index, strict=True)]
    paths = X["path"].tolist()
    starts = X["start"].tolist() if "start" in cols else [None] * n
    ends = X["end"].tolist() if "end" in cols else [None] * n
    waves = X["waveform"].tolist() if "waveform" in cols else [None] * n
    return [
        _array_item(i, w, s, e) if isinstance(w, Waveform) else _file_item(i, p, s, e)
        for i, p, s, e, w in zip(ids, paths, starts, ends, waves, strict=True)
    ]


def _wave_items(est, X, *, reset: bool = False) -> list[Item]:
    from sklearn.utils.validation import check_array, validate_data

    if est is None:
        arr = check_array(X, dtype=[np.float32, np.float64])
    else:
        arr = validate_data(est, X, reset=reset, dtype=[np.float32, np.float64])
    arr = np.asarray(arr, dtype=np.float32)
    return [Item(f"row{i}", None, ("wave", arr[i], None, None)) for i in range(arr.shape[0])]


def audio_items(est, X, *, reset: bool = False) -> list[Item]:
    """Turn any supported ``X`` into items (see the module docs for what ``X`` may be)."""
    import pandas as pd
    from scipy import sparse

    if sparse.issparse(X):
        return _wave_items(est, X, reset=reset)  # raises scikit-learn's dense-data error
    if isinstance(X, pd.DataFrame):
        return _frame_items(est, X, reset=reset)
    if _is_pathlike(X):
        return [_file_item(os.fspath(X), X, None, None)]
    if isinstance(X, pd.Series):
        if pd.api.types.is_numeric_dtype(X):
            return _wave_items(est, X, reset=reset)  # 1-D: scikit-learn's 2-D error
        return [_file_item(str(p), p, None, None) for p in X.tolist()]
    if isinstance(X, np.ndarray) and X.dtype.kind in "USO" and X.ndim in (1, 2):
        flat = X.reshape(-1) if X.ndim == 1 or X.shape[1] == 1 else None
        if flat is not None and flat.size and all(_is_pathlike(p) for p in flat):
            return [_file_item(str(p), p, None, None) for p in flat]
    if isinstance(X, Sequence) and not isinstance(X, np.ndarray) and len(X):
        if all(_is_pathlike(p) for p in X):
            return [_file_item(os.fspath(p), p, None, None) for p in X]
        if all(isinstance(w, np.ndarray) and w.ndim == 1 for w in X):
            ragged = {w.shape[0] for w in X}
            if len(ragged) > 1:
                return [
                    Item(f"row{i}", None, ("wave", np.asarray(w, dtype=np.float32), None, None))
                    for i, w in enumerate(X)
                ]
    return _wave_items(est, X, reset=reset)


class AudioExtractor(BaseExtractor):
    """Base of the audio extractors: input handling, decoding, ``process_*`` helpers.

    Subclasses set ``sr``, ``trim`` and ``normalize`` in ``__init__`` and implement
    ``_features(y)`` (mono float32 waveform at ``sr`` -> 1-D vector) and
    ``get_feature_names_out``; they may override ``_features_from_file`` (long files).
    """

    _item_noun = "audio file"
    _chunk_size = 16
    #: compute batches with BLAS on one thread (extractors made of small matrix products)
    _single_thread_blas = False

    # -- scikit-learn plumbing -----------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False  # stateless: transform works unfitted
        tags.transformer_tags.preserves_dtype = ["float32"]  # always float32 out
        return tags

    def _fit_input(self, X) -> None:
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(self, attr):
                delattr(self, attr)
        audio_items(self, X, reset=True)

    def _items(self, X) -> list[Item]:
        return audio_items(self, X, reset=False)

    def _check_input_features(self, input_features) -> None:
        """``get_feature_names_out``'s check of ``input_features`` once fitted."""
        from sklearn.utils.validation import _check_feature_names_in

        if hasattr(self, "n_features_in_"):
            _check_feature_names_in(self, input_features)

    # -- computing -----------------------------------------------------------------------
    def _compute_batch(self, items: list[Item]) -> list[np.ndarray | Exception]:
        if not self._single_thread_blas:
            return super()._compute_batch(items)
        with single_thread_blas():
            return super()._compute_batch(items)

    def _load_kwargs(self) -> dict:
        return {
            "sr": int(self.sr),
            "trim": bool(getattr(self, "trim", False)),
            "normalize": getattr(self, "normalize", None),
        }

    def _compute_one(self, item: Item) -> np.ndarray:
        kind, a, b, c = item.payload
        if kind == "wave":
            y = np.asarray(a, dtype=np.float32)
            if not np.isfinite(y).all():
                raise AudioError(f"{item.id}: waveform contains NaN or inf; clean the input rows")
            return self._features(self._prepare_wave(y, item.id))
        if kind == "array":  # a Waveform cell: at its own rate, as a decoded file is
            from ._io import _resample

            y = _resample(np.asarray(a, dtype=np.float32), int(b), int(self.sr))
            return self._features(self._prepare_wave(y, item.id))
        if kind == "file":
            return self._features_from_file(a, start=b, end=c)
        if kind == "error":
            raise AudioError(f"{item.id}: {b}")
        raise AudioError(f"{item.id}: no audio path (empty 'path' cell); fill it or drop the row")

    def _prepare_wave(self, y: np.ndarray, name="waveform") -> np.ndarray:
        """What loading does to a file's samples, for a waveform given as an array: the
        extractor's ``trim`` and ``normalize``, in :func:`load_audio`'s order."""
        if getattr(self, "trim", False):
            y = trim_silence(y, int(self.sr))
        from ._io import _normalize

        return _normalize(y, getattr(self, "normalize", None), name)

    def _features_from_file(self, path: str, *, start=None, end=None) -> np.ndarray:
        y = load_audio(path, start=start, end=end, **self._load_kwargs())
        return self._features(y)

    def _features(self, y: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- audinterface-style helpers ------------------------------------------------------
    def process_file(self, path, *, start=None, end=None) -> np.ndarray:
        """Features of one file or segment (1-D float32), through the cache."""
        import pandas as pd

        X = pd.DataFrame({"id": [os.fspath(path)], "path": [os.fspath(path)],
                          "start": [start], "end": [end]})
        return self.transform(X)[0]

    def process_files(self, paths, *, starts=None, ends=None):
        """Features of several files as a DataFrame indexed by path (columns: feature names)."""
        import pandas as pd

        paths = [os.fspath(p) for p in paths]
        n = len(paths)
        X = pd.DataFrame({
            "path": paths,
            "start": list(starts) if starts is not None else [None] * n,
            "end": list(ends) if ends is not None else [None] * n,
        })
        out = self.transform(X)
        return pd.DataFrame(out, index=pd.Index(paths, name="path"),
                            columns=list(self.get_feature_names_out()))

    def process_index(self, manifest):
        """Features of a manifest's rows as a DataFrame indexed by ``id`` (feature names)."""
        import pandas as pd

        items = self._items(manifest)
        out = self.transform(manifest)
        return pd.DataFrame(out, index=pd.Index([it.id for it in items], name="id"),
                            columns=list(self.get_feature_names_out()))
