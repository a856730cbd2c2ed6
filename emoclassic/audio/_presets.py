"""Pooled-feature presets: named recipes of ``(descriptor group, delta order, functionals)``.

Data, not computation: a recipe is read by the plan (:mod:`._pooled_plan`), which turns it into
column names and matrices, so adding or editing a preset touches this file only. The named
functional sets (:data:`MS`, :data:`BASIC`, :data:`STATS`, :data:`LARGE`) live here because
only recipes use them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BASIC", "LARGE", "MS", "PRESETS", "STATS", "Preset"]

MS = ("mean", "std")
BASIC = ("mean", "std", "p10", "p50", "p90", "slope")
STATS = ("mean", "std", "skew", "kurtosis", "p10", "p50", "p90", "range10_90", "slope", "regerr")
LARGE = (
    "mean", "std", "skew", "kurtosis", "qmean", "min", "max", "range",
    "p1", "p5", "p25", "p50", "p75", "p95", "p99",
    "range1_99", "iqr25_75", "iqr25_50", "iqr50_75",
    "slope", "offset", "regerr",
    "uplevel25", "uplevel50", "uplevel75", "uplevel90",
    "risetime", "falltime", "meanabsdelta", "tcentroid",
)


# --------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Preset:
    """A recipe: blocks of ``(group, delta order, functionals)`` plus the pitch statistics.

    ``pitch`` are functionals of F0 over voiced frames, ``hnr`` those of the harmonics-to-noise
    ratio; either non-empty adds the voicing statistics too. ``n_mfcc`` is the default number
    of MFCCs (the ``n_mfcc`` parameter overrides it). ``voiced`` and ``unvoiced`` are blocks
    whose functionals are taken over the voiced (resp. unvoiced) frames only, as eGeMAPS does
    for its spectral descriptors: the spectrum of the voice itself, apart from pauses and
    fricatives (named ``voiced_{row}_{fn}`` / ``unvoiced_{row}_{fn}``; 0 with no such frame).
    ``vq`` are functionals of the voice-quality descriptors of voiced frames (formants,
    harmonic levels, autocorrelation HNR: ``voiced_f1_mean`` ...), ``perturbation`` those of
    the per-cycle jitter and shimmer (``jitter_mean``, ``shimmer_db_mean`` ...). ``smooth``
    > 1 smooths every descriptor group with a moving average of that many frames before deltas
    and functionals (ComParE's "sma"; pitch, voicing and the voiced-frame mask are unaffected).
    """

    description: str
    blocks: tuple[tuple[str, int, tuple[str, ...]], ...]
    pitch: tuple[str, ...] = ()
    hnr: tuple[str, ...] = ()
    n_mfcc: int = 13
    voiced: tuple[tuple[str, int, tuple[str, ...]], ...] = ()
    unvoiced: tuple[tuple[str, int, tuple[str, ...]], ...] = ()
    vq: tuple[str, ...] = ()
    perturbation: tuple[str, ...] = ()
    smooth: int = 0


#: The named recipes (dims at the defaults: n_mels=64, 16 kHz).
PRESETS: dict[str, Preset] = {
    "logmel-meanstd": Preset(
        "mean and std of each log-mel band: the bare baseline",
        (("logmel", 0, MS),),
    ),
    "compact": Preset(
        "MFCC 0-12 (+deltas), spectral shape, contrast, energy, pitch: ~170 dims",
        (
            ("mfcc", 0, BASIC),
            ("mfcc", 1, MS),
            ("spectral", 0, MS),
            ("contrast", 0, MS),
            ("energy", 0, BASIC),
        ),
        pitch=("mean", "std", "p10", "p50", "p90", "range10_90", "slope"),
        hnr=("mean", "std"),
        n_mfcc=13,
    ),
    "default": Preset(
        "log-mel mean/std, MFCC 0-19 with deltas, spectral, contrast, energy, pitch: ~850 dims",
        (
            ("logmel", 0, MS),
            ("mfcc", 0, STATS),
            ("mfcc", 1, STATS),
            ("mfcc", 2, MS),
            ("spectral", 0, STATS),
            ("contrast", 0, STATS),
            ("energy", 0, STATS),
            ("spectral", 1, MS),
            ("contrast", 1, MS),
            ("energy", 1, MS),
        ),
        pitch=("mean", "std", "skew", "kurtosis", "p10", "p50", "p90", "range10_90", "slope",
               "meanabsdelta"),
        hnr=("mean", "std", "p50"),
        n_mfcc=20,
    ),
    "large": Preset(
        "ComParE-like: every descriptor and its delta x 30 functionals: ~6 000 dims",
        (
            ("logmel", 0, LARGE),
            ("logmel", 1, LARGE),
            ("mfcc", 0, LARGE),
            ("mfcc", 1, LARGE),
            ("spectral", 0, LARGE),
            ("spectral", 1, LARGE),
            ("contrast", 0, LARGE),
            ("contrast", 1, LARGE),
            ("energy", 0, LARGE),
            ("energy", 1, LARGE),
        ),
        pitch=LARGE,
        hnr=LARGE,
        n_mfcc=14,
    ),
}
_VUV = (("logmel", 0, MS), ("mfcc", 0, STATS), ("spectral", 0, STATS), ("contrast", 0, STATS),
        ("energy", 0, STATS), ("mfcc", 1, MS), ("spectral", 1, MS))
PRESETS["large-vuv"] = Preset(
    "large plus functionals over voiced and over unvoiced frames (the eGeMAPS split)",
    PRESETS["large"].blocks,
    pitch=LARGE,
    hnr=LARGE,
    n_mfcc=14,
    voiced=_VUV,
    unvoiced=tuple((g, o, MS) for g, o, _ in _VUV),
)

PRESETS["large-vq"] = Preset(
    "large-vuv plus eGeMAPS-style voice quality: alpha ratio, Hammarberg index, spectral slopes, "
    "formants F1-F3, harmonic levels, autocorrelation HNR, jitter, shimmer",
    (*PRESETS["large"].blocks, ("bands", 0, LARGE), ("bands", 1, LARGE)),
    pitch=LARGE,
    hnr=LARGE,
    n_mfcc=14,
    voiced=(*_VUV, ("bands", 0, STATS)),
    unvoiced=(*PRESETS["large-vuv"].unvoiced, ("bands", 0, MS)),
    vq=STATS,
    perturbation=("mean", "std", "p10", "p50", "p90"),
)

PRESETS["rasta-vq"] = Preset(
    "what large-vq and RASTA add to large-vuv, alone: RASTA log-mel, eGeMAPS bands and voice "
    "quality (a second block beside large-vuv, for late fusion)",
    (("rasta", 0, LARGE), ("rasta", 1, LARGE), ("bands", 0, LARGE), ("bands", 1, LARGE)),
    voiced=(("bands", 0, STATS),),
    unvoiced=(("bands", 0, MS),),
    vq=STATS,
    perturbation=("mean", "std", "p10", "p50", "p90"),
)

#: presets whose cache keys predate recipe hashing (see PooledFeatures._extra_identity)
_LEGACY_PRESETS = frozenset({"logmel-meanstd", "compact", "default", "large", "large-vuv"})
