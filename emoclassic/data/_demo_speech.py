"""The demo corpus's audio: synthetic but speech-like utterances of an emotion and a speaker.

A glottal-pulse source whose pitch follows a speaker-specific base and an emotion-specific
level and contour, passed through formant resonances that change per syllable, with a syllable
envelope, pauses and additive noise. Emotions (:data:`_VOICES`) differ in pitch level, range
and slope, tempo, loudness, voice quality (open quotient, spectral tilt, breathiness), and
every utterance and speaker is randomly perturbed so that audio alone is informative but
imperfect. :func:`_synthesize` draws everything from the generator it is given, so the same
stream gives the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import signal

# Scale of the per-utterance random variation of the voice (tuned so that audio alone is
# clearly informative but far from perfect under speaker-grouped CV).
_VARIABILITY = 1.2


@dataclass(frozen=True)
class _Voice:
    """How an emotion shapes the voice (means; every utterance is perturbed around them)."""

    level_st: float  # pitch level relative to the speaker's base, semitones
    slope_st: float  # pitch change from start to end of the utterance, semitones
    range_st: float  # spread of per-syllable pitch accents, semitones
    rate: float  # syllables per second
    loud_db: float  # loudness relative to neutral
    oq: float  # open quotient of the glottal pulse (high: soft, breathy, dark)
    tilt: float  # extra one-pole low-pass coefficient (high: dark)
    breath: float  # aspiration noise relative to the voiced source
    pause: float  # probability of a pause after a syllable
    f1: float = 1.0  # first-formant scale (open, tense jaw: higher)
    f2: float = 1.0  # second/third-formant scale (spread lips, smiling: higher)
    tremor: float = 0.0  # pitch tremor depth, semitones


_VOICES: dict[str, _Voice] = {
    #                     level slope range rate  loud  oq    tilt  breath pause  F1    F2
    "neutral": _Voice(0.0, -2.0, 1.0, 4.0, -1.5, 0.62, 0.42, 0.08, 0.14, 1.00, 1.00),
    "happiness": _Voice(5.0, 4.0, 3.2, 5.4, 2.5, 0.50, 0.15, 0.04, 0.06, 1.05, 1.14),
    "sadness": _Voice(-2.0, -1.0, 0.5, 3.0, -6.5, 0.78, 0.68, 0.22, 0.25, 0.94, 0.95),
    "anger": _Voice(2.0, -4.0, 1.8, 4.6, 5.5, 0.36, 0.00, 0.03, 0.08, 1.16, 1.00),
    "fear": _Voice(5.0, 0.5, 2.2, 5.6, -1.0, 0.60, 0.30, 0.15, 0.15, 1.00, 1.05, tremor=0.6),
    "disgust": _Voice(-1.0, -3.0, 1.6, 3.4, 0.0, 0.50, 0.40, 0.10, 0.20, 0.97, 0.95),
    "surprise": _Voice(6.0, 6.0, 3.2, 4.6, 3.0, 0.55, 0.25, 0.05, 0.10, 1.06, 1.06),
}

DEMO_CLASSES = tuple(_VOICES)

# Vowel formants (F1, F2, F3) in Hz for an adult male vocal tract.
_VOWELS = np.array(
    [
        [730, 1090, 2440],  # a
        [270, 2290, 3010],  # i
        [300, 870, 2240],  # u
        [530, 1840, 2480],  # e
        [570, 840, 2410],  # o
        [660, 1720, 2410],  # ae
        [490, 1350, 1690],  # er
    ],
    dtype=float,
)
_BANDWIDTHS = np.array([90.0, 110.0, 170.0])
# Formant loci of consonants (labial, alveolar, velar) where syllables start.
_LOCI = np.array([[300, 900, 2300], [320, 1700, 2650], [300, 2100, 2300]], dtype=float)
_GLIDE_ANCHORS = np.linspace(0, 1, 4)  # points along a formant glide that are filtered


@dataclass(frozen=True)
class _Speaker:
    f0: float  # base pitch, Hz
    vtl: float  # formant scale (shorter vocal tract: higher formants)
    rate: float  # speaking-rate factor
    loud_db: float
    oq: float  # voice-quality offsets
    tilt: float
    snr_db: float  # typical recording SNR of this speaker's channel


def _speaker_profiles(seed: int, n_speakers: int) -> list[_Speaker]:
    """Speakers alternate female/male; each trait is spread evenly over its range within a
    gender (stratified, then shuffled), so that no seed draws all speakers at one extreme or
    one speaker far outside the others: the difficulty should not depend much on the seed."""
    speakers: list[_Speaker | None] = [None] * n_speakers
    for female in (True, False):
        members = list(range(0 if female else 1, n_speakers, 2))
        rng = np.random.default_rng([seed, 2, int(female)])
        m = len(members)

        def spread(lo: float, hi: float, m: int = m, rng: np.random.Generator = rng):
            q = (rng.permutation(m) + rng.uniform(0.25, 0.75, m)) / max(m, 1)
            return lo + q * (hi - lo)

        f0 = spread(175, 235) if female else spread(95, 135)
        vtl = spread(1.10, 1.20) if female else spread(0.94, 1.04)
        rate, loud = spread(0.9, 1.1), spread(-2.5, 2.5)
        oq, tilt = spread(-0.04, 0.04), spread(-0.06, 0.06)
        snr = spread(20, 35)
        for i, s in enumerate(members):
            speakers[s] = _Speaker(
                f0=float(f0[i]),
                vtl=float(vtl[i]),
                rate=float(rate[i]),
                loud_db=float(loud[i]),
                oq=float(oq[i]),
                tilt=float(tilt[i]),
                snr_db=float(snr[i]),
            )
    return speakers  # type: ignore[return-value]


def _synthesize(
    rng: np.random.Generator, spk: _Speaker, voice: _Voice, sr: int, seconds: float
) -> np.ndarray:
    """One utterance of speech-like audio, float64 in [-1, 1]."""
    n = int(round(seconds * sr))
    # Per-utterance perturbation of the emotion's voice.
    v = _VARIABILITY
    rate = voice.rate * spk.rate * np.exp(rng.normal(0, 0.15 * v))
    level = voice.level_st + rng.normal(0, 1.0 * v)
    slope = voice.slope_st + rng.normal(0, 2.0 * v)
    accents = voice.range_st * np.exp(rng.normal(0, 0.35 * v))
    oq = float(np.clip(voice.oq + spk.oq + rng.normal(0, 0.05 * v), 0.3, 0.9))
    tilt = float(np.clip(voice.tilt + spk.tilt + rng.normal(0, 0.08 * v), 0.0, 0.85))
    breath = voice.breath * np.exp(rng.normal(0, 0.4 * v))
    loud_db = voice.loud_db + spk.loud_db + v * (rng.normal(0, 1.5) + rng.uniform(-3, 3))
    snr_db = spk.snr_db + rng.normal(0, 4)

    # Syllable plan: onsets, voiced lengths, pauses.
    onsets, lengths = [], []
    t = rng.uniform(0.04, 0.15)
    while True:
        length = float(np.clip(0.72 / rate * np.exp(rng.normal(0, 0.25)), 0.07, 0.45))
        if t + length > seconds - 0.04:
            break
        onsets.append(t)
        lengths.append(length)
        t += length + 0.28 / rate * np.exp(rng.normal(0, 0.3))
        if rng.random() < voice.pause:
            t += rng.uniform(0.08, 0.3)
    if not onsets:  # very short utterance: one syllable
        onsets, lengths = [0.04], [max(0.07, seconds - 0.08)]
    onsets_a = np.asarray(onsets)
    lengths_a = np.asarray(lengths)
    n_syl = len(onsets_a)

    # Pitch contour in semitones: base + level + linear slope + smooth accents + tremor.
    tt = np.arange(n) / sr
    centers = onsets_a + lengths_a / 2
    accent_st = rng.normal(0, accents, n_syl)
    st = 12 * np.log2(spk.f0) + level
    st = st + slope * (tt / seconds - 0.5)
    st = st + np.interp(tt, centers, accent_st)
    st = st + voice.tremor * np.sin(2 * np.pi * rng.uniform(5, 8) * tt)
    jitter = signal.lfilter([0.02], [1, -0.98], rng.normal(0, 1, n))
    st = st + 0.8 * jitter
    f0 = 2 ** (st / 12)
    f0 = np.clip(f0, 60, min(600, sr / 8))

    # Glottal source: Rosenberg flow pulse per cycle, differentiated (radiation), tilted.
    phase = np.cumsum(f0) / sr
    p = phase - np.floor(phase)
    tp, tn = 0.62 * oq, 0.38 * oq
    flow = np.where(
        p < tp,
        0.5 * (1 - np.cos(np.pi * p / tp)),
        np.where(p < tp + tn, np.cos(0.5 * np.pi * (p - tp) / tn), 0.0),
    )
    source = np.diff(flow, prepend=0.0)
    source /= np.std(source) + 1e-12
    # Aspiration noise, pulsed with the glottal opening; then the whole source is tilted.
    source = source + breath * (0.3 + flow) * rng.normal(0, 1, n)
    if tilt > 0:
        source = signal.lfilter([1 - tilt], [1, -tilt], source)

    # Syllables: formant-filtered source under an envelope, optional noisy onset.
    out = np.zeros(n)
    vowels = rng.integers(len(_VOWELS), size=n_syl)
    amps = np.exp(0.4 * accent_st / max(accents, 1e-6) * rng.uniform(0.1, 0.4))
    fric = _fricative_filters(sr)
    shift = spk.vtl * np.array([voice.f1, voice.f2, voice.f2]) * np.exp(rng.normal(0, 0.03))
    for j in range(n_syl):
        a = int(onsets_a[j] * sr)
        b = min(n, a + int(lengths_a[j] * sr))
        m = b - a
        if m < 16:
            continue
        target = _VOWELS[vowels[j]] * shift * np.exp(rng.normal(0, 0.06, 3))
        # Formants glide from a consonant locus (or the previous vowel) into the vowel.
        if j == 0 or rng.random() < 0.7:
            begin = _LOCI[int(rng.integers(len(_LOCI)))] * shift
        else:
            begin = _VOWELS[vowels[j - 1]] * shift
        seg = _formant_glide(source[a:b], begin, target, rng.uniform(0.25, 0.5), sr)
        attack = max(2, int(m * rng.uniform(0.12, 0.3)))
        decay = max(2, int(m * rng.uniform(0.2, 0.4)))
        env = np.ones(m)
        env[:attack] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, attack))
        env[m - decay :] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, decay))
        out[a:b] += amps[j] * env * seg
        if rng.random() < 0.55 and a > int(0.03 * sr):
            k = int(rng.uniform(0.03, 0.07) * sr)
            burst = signal.sosfilt(fric[int(rng.integers(len(fric)))], rng.normal(0, 1, k))
            burst *= np.hanning(k) * rng.uniform(0.15, 0.5) * np.std(seg)
            start = max(0, a - k + k // 4)
            out[start : start + k] += burst[: n - start]

    # Loudness, then channel noise at the utterance's SNR.
    rms = np.sqrt(np.mean(out**2)) + 1e-12
    out *= 10 ** ((loud_db - 26) / 20) / rms
    noise = rng.normal(0, 1, n)
    noise = signal.lfilter([1.0], [1, -rng.uniform(0.0, 0.9)], noise)  # white to brownish
    noise *= np.sqrt(np.mean(out**2)) / (np.std(noise) + 1e-12) * 10 ** (-snr_db / 20)
    out += noise
    peak = np.max(np.abs(out))
    if peak > 0.97:
        out *= 0.97 / peak
    return out


def _formant_sos(formants: np.ndarray, sr: int) -> np.ndarray:
    """Cascades of two-pole resonators with unit gain at DC: ``(..., 3)`` Hz -> ``(..., 3, 6)``."""
    f = np.minimum(formants, 0.45 * sr)
    r = np.exp(-np.pi * _BANDWIDTHS / sr)
    a1 = -2 * r * np.cos(2 * np.pi * f / sr)
    a2 = np.broadcast_to(r * r, f.shape)
    sos = np.zeros((*f.shape, 6))
    sos[..., 0] = 1 + a1 + a2
    sos[..., 3] = 1
    sos[..., 4] = a1
    sos[..., 5] = a2
    return sos


def _formant_glide(
    x: np.ndarray, begin: np.ndarray, target: np.ndarray, glide: float, sr: int
) -> np.ndarray:
    """Filter ``x`` through formants moving from ``begin`` to ``target`` over the first
    ``glide`` fraction of it: a crossfade of a few fixed-formant filterings along the path
    (a handful of filter calls per syllable instead of one per few milliseconds)."""
    m = len(x)
    g = max(2, int(glide * m))
    n_anchor = len(_GLIDE_ANCHORS)
    tracks = begin * (target / begin) ** _GLIDE_ANCHORS[:, None]
    sos = _formant_sos(tracks, sr)
    y = signal.sosfilt(sos[-1], x)
    u = np.linspace(0, 1, g)
    pos = (u * u * (3 - 2 * u)) * (n_anchor - 1)  # smoothstep along the anchors
    mix = np.zeros(g)
    for k in range(n_anchor):
        w = np.clip(1 - np.abs(pos - k), 0, 1)
        yk = y[:g] if k == n_anchor - 1 else signal.sosfilt(sos[k], x[:g])
        mix += w * yk
    y[:g] = mix
    return y


@lru_cache(maxsize=8)
def _fricative_filters(sr: int) -> tuple[np.ndarray, ...]:
    """Band-pass filters for noisy consonant onsets (s-, sh- and f-like)."""
    nyq = sr / 2
    bands = [(3500, 7000), (1800, 4000), (1000, 6000)]
    return tuple(
        signal.butter(2, [lo / nyq, min(hi, 0.95 * nyq) / nyq], btype="band", output="sos")
        for lo, hi in bands
    )
