"""openSMILE functionals (eGeMAPS, ComParE 2016, ...) as a cached, stateless feature block.

openSMILE (audEERING's ``opensmile`` package) is the extractor most speech-emotion papers
report, so its standard feature sets are the natural reference beside :class:`PooledFeatures`.
It is free for research and education only, so it is an optional extra
(``pip install "emoclassic[opensmile]"``) and is imported only inside the functions that use it:
``import emoclassic.audio`` never needs it, and without it the block fails with one
:class:`~emoclassic.exceptions.ConfigError` line naming the extra.

Audio goes through the project's own :func:`load_audio` (not audinterface's reader), so
manifest segments (``start``/``end``), any rate or channel count, the bad-file messages and the
feature cache behave exactly as in every other audio block; openSMILE only sees a mono float
waveform at ``sr``.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import sys

import numpy as np

from ..exceptions import AudioError, ConfigError
from ..features import Item
from ._base import AudioExtractor

logger = logging.getLogger(__name__)

__all__ = ["OpenSmileFeatures", "opensmile_feature_sets"]

#: what to run when the package is missing (named in the error)
INSTALL_HINT = 'pip install "emoclassic[opensmile]"'

#: Clips shorter than this are zero-padded to it (seconds). openSMILE emits no functionals
#: at all (its Python wrapper fills NaN) below one analysis window plus the smoothing context:
#: 25 ms (emobase: 40 ms, eGeMAPS and ComParE: 60 ms, IS10-IS12: 70 ms at 16 kHz); 0.1 s covers
#: every standard set with a margin, and padding with silence matches what the other audio
#: blocks do with clips shorter than one frame (a defined vector, not a failed row).
MIN_SECONDS = 0.1

#: openSMILE converts floats to 16-bit integers by ``x * 32768`` without clipping, so a sample
#: at or above full scale (a ``normalize="loudness"`` peak, say) would wrap around; clip first.
_FULL_SCALE = 32767.0 / 32768.0


class _SmileFailure(Exception):
    """openSMILE produced no usable vector; re-raised as an AudioError naming the item."""


def _opensmile_available() -> bool:
    """Whether ``opensmile`` can be found, without importing it (it takes ~0.4 s)."""
    if "opensmile" in sys.modules:
        return sys.modules["opensmile"] is not None  # None: import blocked (tests do that)
    try:
        return importlib.util.find_spec("opensmile") is not None
    except (ImportError, ValueError):
        return False


def _missing_extra() -> ConfigError:
    return ConfigError(
        "feature type 'opensmile' needs the opensmile package, which is not installed; "
        f"run {INSTALL_HINT} (openSMILE is free for research use only, hence an optional extra)"
    )


def _import_opensmile():
    """The ``opensmile`` module, or the one-line ConfigError naming the extra."""
    try:
        import opensmile
    except (ImportError, OSError):  # OSError: the package is there but its library is not
        raise _missing_extra() from None
    return opensmile


def opensmile_version() -> str:
    """The installed opensmile version (from its metadata: no import)."""
    from importlib import metadata

    try:
        return metadata.version("opensmile")
    except metadata.PackageNotFoundError:
        return str(getattr(_import_opensmile(), "__version__", "unknown"))


def opensmile_feature_sets() -> list[str]:
    """Names of every feature set ``opensmile.FeatureSet`` offers (aliases included)."""
    return list(_import_opensmile().FeatureSet.__members__)


@functools.lru_cache(maxsize=8)
def _smile(feature_set: str):
    """One ``opensmile.Smile`` per feature set and process (parsing its config takes ~0.15 s).

    Never stored on the estimator: it would make clones and pickles (joblib workers, saved
    models) carry a C-library handle; each worker process builds its own here instead.
    """
    opensmile = _import_opensmile()
    return opensmile.Smile(
        feature_set=opensmile.FeatureSet[feature_set],
        feature_level=opensmile.FeatureLevel.Functionals,
        num_workers=1,
    )


class OpenSmileFeatures(AudioExtractor):
    """openSMILE functionals of a standard feature set: one vector per utterance.

    Parameters
    ----------
    feature_set : str
        A name of ``opensmile.FeatureSet``: ``"eGeMAPSv02"`` (88 values, the default: the
        extended Geneva minimalistic set, designed for affect and the most reported in emotion
        papers), ``"ComParE_2016"`` (6 373), ``"GeMAPSv01b"`` (62), ``"emobase"`` (988),
        ``"IS09"`` ... ``"IS13"`` and the deprecated aliases openSMILE still accepts (it warns).
    feature_level : str
        ``"functionals"``, the only level supported: a feature block gives one row per
        utterance, which is what functionals are. openSMILE's low-level descriptors are a
        matrix of frames per utterance; they would be a frames block (as ``type = "frames"``,
        whose row layout the sequence models read), not this one.
    sr : int
        Rate the audio is resampled to before openSMILE sees it (and the rate of waveform
        rows). 16 kHz by default, as every other block: the standard sets were designed on
        speech-band audio (ComParE's and eGeMAPS's mel/auditory filterbanks stop at 8 kHz, the
        Nyquist frequency of 16 kHz), while their full-band descriptors (spectral flux,
        roll-off, centroid, entropy over the whole FFT) change with the rate, so one fixed rate
        keeps vectors comparable across corpora recorded at 16, 44.1 or 48 kHz; it also costs
        a third of 48 kHz's time. Audio is mixed down to mono by :func:`load_audio`, as in the
        other blocks.
    trim, normalize : loading options (see :func:`load_audio`). Both are off by default, as
        openSMILE's loudness and voicing statistics are part of what the sets measure.
    cache, n_jobs, on_error, progress :
        Runtime options of :class:`~emoclassic.features.BaseExtractor` (not part of cache keys;
        the keys hold the feature set, the level, the loading options and the opensmile
        version, so an upgrade of openSMILE never serves stale vectors).

    Notes
    -----
    Segments shorter than :data:`MIN_SECONDS` are zero-padded to it (openSMILE would return no
    functionals). A segment is decoded whole: cut hours-long recordings into utterances
    (manifest ``start``/``end``) first. openSMILE is free for research and education only
    (audEERING's licence); check it before commercial use.

    Raises :class:`~emoclassic.exceptions.ConfigError` naming the extra when ``opensmile`` is
    not installed: at construction (cheaply, without importing it), so a spec that uses the
    block fails when it is built rather than after the other blocks were extracted, and again
    at ``fit``/``transform`` (e.g. a saved model loaded where the extra is missing).
    """

    def __init__(
        self,
        feature_set: str = "eGeMAPSv02",
        *,
        feature_level: str = "functionals",
        sr: int = 16000,
        trim: bool = False,
        normalize: str | None = None,
        cache=None,
        n_jobs: int | None = None,
        on_error: str = "raise",
        progress: bool | None = None,
    ):
        self.feature_set = feature_set
        self.feature_level = feature_level
        self.sr = sr
        self.trim = trim
        self.normalize = normalize
        self.cache = cache
        self.n_jobs = n_jobs
        self.on_error = on_error
        self.progress = progress
        if not _opensmile_available():
            raise _missing_extra()

    # -- validation ------------------------------------------------------------------------
    def _check_params(self) -> None:
        super()._check_params()
        opensmile = _import_opensmile()
        choices = list(opensmile.FeatureSet.__members__)
        if not isinstance(self.feature_set, str) or self.feature_set not in choices:
            raise ConfigError(
                f"opensmile: feature_set={self.feature_set!r} is not an openSMILE feature set; "
                f"use one of {', '.join(choices)}"
            )
        if not isinstance(self.feature_level, str) or self.feature_level.lower() != "functionals":
            raise ConfigError(
                f"opensmile: feature_level={self.feature_level!r} is not supported; use "
                "'functionals' (one vector per utterance; frame-level LLDs would be a frames "
                "block)"
            )
        if isinstance(self.sr, bool) or not isinstance(self.sr, (int, np.integer)) or self.sr < 1:
            raise ConfigError(f"opensmile: sr={self.sr!r} must be a positive integer (Hz)")

    def _get_smile(self):
        return _smile(str(self.feature_set))

    # -- identity and names ----------------------------------------------------------------
    def _extra_identity(self) -> dict:
        return {"opensmile": opensmile_version()}

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """openSMILE's own names, e.g. ``F0semitoneFrom27.5Hz_sma3nz_amean``."""
        self._check_input_features(input_features)
        self._check_params()
        return np.asarray(list(self._get_smile().feature_names), dtype=object)

    # -- computing -------------------------------------------------------------------------
    def _compute_one(self, item: Item) -> np.ndarray:
        try:
            return super()._compute_one(item)
        except _SmileFailure as exc:
            raise AudioError(f"{item.id}: {exc}") from None

    def _features(self, y: np.ndarray) -> np.ndarray:
        sr = int(self.sr)
        y = np.clip(np.asarray(y, dtype=np.float32), -1.0, _FULL_SCALE)
        need = math.ceil(MIN_SECONDS * sr)
        if y.shape[0] < need:
            y = np.pad(y, (0, need - y.shape[0]))
        try:
            out = self._get_smile()(y[None, :], sr)
        except Exception as exc:  # noqa: BLE001 - the C library raises its own types
            raise _SmileFailure(
                f"openSMILE failed ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
                "check the audio or try another feature_set"
            ) from None
        vec = np.asarray(out, dtype=np.float32).reshape(-1)
        if not np.isfinite(vec).all():
            raise _SmileFailure(
                "openSMILE returned NaN or infinite functionals; check the audio (on_error='nan' "
                "keeps going)"
            )
        return vec
