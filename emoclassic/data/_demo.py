"""A small, deterministic, generated corpus so that everything runs out of the box.

The audio is synthetic but speech-like: a glottal-pulse source whose pitch follows a
speaker-specific base and an emotion-specific level and contour, passed through formant
resonances that change per syllable, with a syllable envelope, pauses and additive noise.
Emotions differ in pitch level, range and slope, tempo, loudness, voice quality (open quotient,
spectral tilt, breathiness), and every utterance and speaker is randomly perturbed so that audio
alone is informative but imperfect.

The transcripts are templated English sentences: some carry words of the utterance's emotion,
some are uninformative, some carry another emotion's words (contradicting the voice). The text
categories are drawn independently of the audio, so the errors of the two modalities are
independent and a fusion of both beats either one.
"""

from __future__ import annotations

import io
import logging
import os
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import signal

from .._atomic import atomic_write_text
from ..exceptions import ConfigError
from ._manifest import MANIFEST_COLUMNS, validate_manifest, write_manifest

__all__ = ["make_demo_corpus", "make_scale_corpus", "DEMO_CLASSES"]

logger = logging.getLogger(__name__)

# Share of transcripts per category; the rest contradict the voice.
_P_MATCH = 0.55
_P_UNINFORMATIVE = 0.33

# Scale of the per-utterance random variation of the voice (tuned so that audio alone is
# clearly informative but far from perfect under speaker-grouped CV).
_VARIABILITY = 1.2

_SESSION_LEN = 8  # utterances per dialogue ("session") of a speaker


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

# Words and sentences that carry each emotion. {adj} takes one of the class adjectives,
# {topic} one of the shared topics (which carry no emotion).
_ADJ: dict[str, list[str]] = {
    "neutral": ["fine", "okay", "calm", "alright"],
    "happiness": ["happy", "delighted", "thrilled", "glad"],
    "sadness": ["sad", "heartbroken", "miserable", "devastated"],
    "anger": ["furious", "angry", "outraged", "livid"],
    "fear": ["scared", "terrified", "afraid", "frightened"],
    "disgust": ["disgusted", "revolted", "sickened", "repulsed"],
    "surprise": ["surprised", "amazed", "astonished", "shocked"],
}
_EMO_TEMPLATES = [
    "I am so {adj} about the {topic}",
    "honestly the {topic} makes me {adj}",
    "I feel {adj} right now",
    "we were all {adj} after the {topic}",
    "you know I am {adj} about this",
]
_PHRASES: dict[str, list[str]] = {
    "neutral": [
        "the {topic} went as expected",
        "nothing special to report about the {topic}",
        "it is just an ordinary day",
        "that seems reasonable to me",
    ],
    "happiness": [
        "this is wonderful news",
        "what a lovely gift the {topic} was",
        "I love the {topic} so much",
        "we did it and it is fantastic",
    ],
    "sadness": [
        "I miss them so much",
        "nothing will ever be the same again",
        "the {topic} broke my heart",
        "I wish things were different and I cry about it",
    ],
    "anger": [
        "this is completely unacceptable",
        "I have had it with the {topic}",
        "how dare you say that to me",
        "stop wasting my time with the {topic}",
    ],
    "fear": [
        "I dread what happens next",
        "please do not leave me alone here",
        "the {topic} gives me the creeps",
        "I am worried something terrible will happen",
    ],
    "disgust": [
        "that is absolutely gross",
        "the {topic} was vile and filthy",
        "yuck I cannot even look at it",
        "the smell makes me want to throw up",
    ],
    "surprise": [
        "wow I did not see that coming",
        "no way the {topic} really happened",
        "what a shock that was",
        "I can hardly believe the {topic}",
    ],
}
_UNINFORMATIVE = [
    "the meeting is on {day}",
    "please send the {topic} notes to {name}",
    "the train leaves at {time}",
    "we need two more chairs for the {topic}",
    "the {topic} starts after lunch on {day}",
    "I will call {name} back later",
    "the office is on the third floor",
    "can you check the {topic} again on {day}",
    "{name} said the {topic} is next week",
    "the bus stops near the station at {time}",
]
_TOPICS = ["delay", "meeting", "results", "weekend", "letter", "project", "trip", "party"]
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]
_NAMES = ["anna", "peter", "maria", "john"]
_TIMES = ["nine", "noon", "four"]

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

_FILE_RE = re.compile(r"^spk\d+_\d+\.wav$")


# --------------------------------------------------------------------------- public API


def make_demo_corpus(
    out_dir: str | os.PathLike,
    *,
    n_speakers: int = 8,
    n_per_class: int = 12,
    classes: tuple[str, ...] | list[str] = ("neutral", "happiness", "sadness", "anger"),
    seed: int = 0,
    sr: int = 16000,
    duration: tuple[float, float] = (1.2, 2.2),
) -> pd.DataFrame:
    """Write a deterministic demo corpus (wavs, ``manifest.csv``, ``README.md``) to ``out_dir``.

    ``n_per_class`` utterances are made per speaker and class, so the corpus has
    ``n_speakers * len(classes) * n_per_class`` rows. Speakers alternate female/male. Splits go
    by speaker (last quarter test, one dev, the rest train), and each speaker's utterances form
    sessions (``dialogue_id``) of up to 8 turns in which emotions come in short runs.

    The same arguments give byte-identical files. Returns the manifest with absolute paths;
    the CSV holds paths relative to ``out_dir``.
    """
    t0 = time.perf_counter()
    classes = _check_args(n_speakers, n_per_class, classes, seed, sr, duration)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.csv"
    # An old manifest must never describe half-rewritten audio: drop it first, write it last.
    manifest_path.unlink(missing_ok=True)

    rows = _plan(n_speakers, n_per_class, classes, seed)
    speakers = _speaker_profiles(seed, n_speakers)
    lo, hi = duration
    written: set[Path] = set()
    for row in rows:
        audio = _render(row, speakers, seed, sr, lo, hi)
        wav = out / row["path"]
        wav.parent.mkdir(parents=True, exist_ok=True)
        _write_wav(wav, audio, sr)
        written.add(wav.resolve())
    _remove_stale_wavs(out / "wav", written)

    frame = pd.DataFrame(rows)[list(MANIFEST_COLUMNS)]
    frame["path"] = [os.path.abspath(out / p) for p in frame["path"]]
    frame = validate_manifest(frame, source="make_demo_corpus")
    atomic_write_text(
        out / "README.md",
        _readme(n_speakers, n_per_class, classes, seed, sr, duration, len(frame)),
    )
    write_manifest(frame, manifest_path)  # last: its presence means the corpus is complete
    logger.info(
        "wrote demo corpus of %d utterances to %s in %.2f s",
        len(frame),
        out,
        time.perf_counter() - t0,
    )
    return frame


#: Speakers of a scale corpus: about this many clips each (bounded, see make_scale_corpus).
_SCALE_CLIPS_PER_SPEAKER = 250


def make_scale_corpus(
    out_dir: str | os.PathLike,
    n_clips: int,
    *,
    n_speakers: int | None = None,
    classes: tuple[str, ...] | list[str] = ("neutral", "happiness", "sadness", "anger"),
    seed: int = 0,
    sr: int = 16000,
    duration: float = 1.0,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Write ``n_clips`` short demo-corpus clips (wavs + ``manifest.csv``): a corpus for scale runs.

    The demo generator's speakers, voices and transcripts at any size, with fixed-length clips
    (``duration`` seconds; 1 s at 16 kHz is 32 kB, so 100 000 clips take 3.2 GB: put big ones
    outside the repository). Speakers default to one per ~250 clips (4 to 400). Generation runs
    in ``n_jobs`` processes and is resumable: a wav that already has its final size is kept,
    untouched (its mtime, hence feature-cache keys, stay valid), so a rerun after an
    interruption only writes what is missing. The manifest is written last.
    """
    t0 = time.perf_counter()
    if not isinstance(n_clips, (int, np.integer)) or n_clips < 1:
        raise ConfigError(f"make_scale_corpus: n_clips={n_clips!r} must be a positive integer")
    if isinstance(classes, str):
        classes = (classes,)
    n_cls = max(1, len(tuple(classes)))
    if n_speakers is not None and (not isinstance(n_speakers, (int, np.integer)) or n_speakers < 1):
        raise ConfigError(
            f"make_scale_corpus: n_speakers={n_speakers!r} must be a positive integer or None"
        )
    if n_speakers is None:
        n_speakers = int(min(400, max(4, round(n_clips / _SCALE_CLIPS_PER_SPEAKER))))
    n_speakers = int(min(n_speakers, max(1, n_clips)))
    n_per_class = -(-int(n_clips) // (n_speakers * n_cls))  # ceil: plan enough, keep n_clips
    classes = _check_args(n_speakers, n_per_class, classes, seed, sr, (duration, duration))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.csv"
    manifest_path.unlink(missing_ok=True)

    rows = _plan(n_speakers, n_per_class, classes, seed)
    # Keep n_clips rows spread over every speaker (each speaker's first utterances).
    per_spk = len(rows) // n_speakers
    order = sorted(range(len(rows)), key=lambda i: (i % per_spk, i // per_spk))[: int(n_clips)]
    rows = [rows[i] for i in sorted(order)]
    speakers = _speaker_profiles(seed, n_speakers)
    expected = 44 + 2 * int(round(float(duration) * sr))  # PCM_16 mono WAV of a fixed length
    tasks = [
        [(r["path"], r["_spk"], r["_cls"], r["_k"], r["label"]) for r in rows[i : i + 500]]
        for i in range(0, len(rows), 500)
    ]
    args = (speakers, seed, sr, float(duration), out, expected)
    if n_jobs == 1 or len(tasks) == 1:
        written = sum(_write_scale_chunk(t, *args) for t in tasks)
    else:
        from joblib import Parallel, delayed

        written = sum(Parallel(n_jobs=n_jobs)(delayed(_write_scale_chunk)(t, *args)
                                              for t in tasks))
    frame = pd.DataFrame(rows)[list(MANIFEST_COLUMNS)]
    frame["path"] = [os.path.abspath(out / p) for p in frame["path"]]
    frame = validate_manifest(frame, source="make_scale_corpus")
    atomic_write_text(
        out / "README.md",
        _readme(n_speakers, n_per_class, classes, seed, sr, (duration, duration), len(frame)),
    )
    write_manifest(frame, manifest_path)
    logger.info(
        "scale corpus: %d clips in %s (%d written, %d kept) in %.1f s",
        len(frame), out, written, len(frame) - written, time.perf_counter() - t0,
    )
    return frame


def _render(row: dict, speakers: list, seed: int, sr: int, lo: float, hi: float) -> np.ndarray:
    """The audio of one planned row (its own random stream: any order, any process)."""
    rng = np.random.default_rng([seed, 1, row["_spk"], row["_cls"], row["_k"]])
    seconds = float(rng.uniform(lo, hi))
    return _synthesize(rng, speakers[row["_spk"]], _VOICES[row["label"]], sr, seconds)


def _write_scale_chunk(chunk, speakers, seed, sr, seconds, out: Path, expected: int) -> int:
    """Synthesise and write the clips of ``chunk`` that are not on disk yet; return how many."""
    n = 0
    made: set[Path] = set()
    for path, spk, cls, k, label in chunk:
        wav = out / path
        try:
            if wav.stat().st_size == expected:
                continue
        except FileNotFoundError:
            pass
        row = {"_spk": spk, "_cls": cls, "_k": k, "label": label}
        audio = _render(row, speakers, seed, sr, seconds, seconds)
        if wav.parent not in made:
            wav.parent.mkdir(parents=True, exist_ok=True)
            made.add(wav.parent)
        # temp + rename: a clip killed mid-write must not pass the size check above
        tmp = wav.with_name(f".{wav.name}.tmp")
        _write_wav(tmp, audio, sr)
        os.replace(tmp, wav)
        n += 1
    return n


# --------------------------------------------------------------------------- planning


def _check_args(n_speakers, n_per_class, classes, seed, sr, duration) -> tuple[str, ...]:
    if isinstance(classes, str):
        classes = (classes,)
    classes = tuple(classes)
    unknown = [c for c in classes if c not in _VOICES]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise ConfigError(
            f"make_demo_corpus: classes={list(classes)!r} must be distinct names from "
            f"{list(DEMO_CLASSES)}"
        )
    for name, value in (("n_speakers", n_speakers), ("n_per_class", n_per_class)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"make_demo_corpus: {name}={value!r} must be a positive integer")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"make_demo_corpus: seed={seed!r} must be a non-negative integer")
    if not isinstance(sr, (int, np.integer)) or sr < 8000:
        raise ConfigError(f"make_demo_corpus: sr={sr!r} must be an integer of at least 8000 Hz")
    try:
        lo, hi = (float(d) for d in duration)
    except (TypeError, ValueError):
        raise ConfigError(
            f"make_demo_corpus: duration={duration!r} must be a (min, max) pair of seconds"
        ) from None
    if not 0.3 <= lo <= hi <= 30:
        raise ConfigError(
            f"make_demo_corpus: duration={duration!r} must satisfy 0.3 <= min <= max <= 30 s"
        )
    return classes


def _splits(n_speakers: int) -> list[str]:
    """Split by speaker: the last quarter test, the one before dev, the rest train."""
    n_test = 0 if n_speakers < 2 else max(1, round(n_speakers / 4))
    n_dev = 1 if n_speakers >= 3 else 0
    n_train = n_speakers - n_test - n_dev
    return ["train"] * n_train + ["dev"] * n_dev + ["test"] * n_test


def _plan(n_speakers: int, n_per_class: int, classes: tuple[str, ...], seed: int) -> list[dict]:
    """Decide every row: speaker, label, text category and sentence, session and order."""
    rng = np.random.default_rng([seed, 0])
    splits = _splits(n_speakers)
    n_total = n_speakers * n_per_class
    # Exact text-category shares per class, shuffled over that class's utterances.
    categories: dict[str, list[str]] = {}
    for c in classes:
        n_match = round(_P_MATCH * n_total)
        n_uninf = round(_P_UNINFORMATIVE * n_total)
        if len(classes) == 1:  # nothing to contradict with
            n_uninf = n_total - n_match
        cats = ["match"] * n_match + ["uninformative"] * n_uninf
        cats += ["contradict"] * (n_total - len(cats))
        categories[c] = list(rng.permutation(cats))

    rows: list[dict] = []
    for s in range(n_speakers):
        speaker = f"spk{s + 1:02d}"
        # Emotions come in short runs (1-3 turns) so dialogue context carries information.
        blocks = []
        for c in classes:
            left = n_per_class
            while left:
                size = min(left, int(rng.integers(1, 4)))
                blocks.append((c, size))
                left -= size
        order: list[str] = []
        for b in rng.permutation(len(blocks)):
            order += [blocks[b][0]] * blocks[b][1]
        seen = dict.fromkeys(classes, 0)
        for i, label in enumerate(order):
            k = seen[label]
            seen[label] += 1
            ci = DEMO_CLASSES.index(label)
            cat = categories[label][s * n_per_class + k]
            text_class = label
            if cat == "contradict":
                others = [c for c in classes if c != label]
                text_class = others[int(rng.integers(len(others)))]
            text = _sentence(rng, cat, text_class)
            uid = f"{speaker}_{i:03d}"
            rows.append(
                {
                    "id": uid,
                    "path": f"wav/{speaker}/{uid}.wav",
                    "text": text,
                    "label": label,
                    "label_original": label,
                    "speaker": speaker,
                    "dialogue_id": f"{speaker}_s{i // _SESSION_LEN + 1:02d}",
                    "utterance_index": i % _SESSION_LEN,
                    "split": splits[s],
                    "start": np.nan,
                    "end": np.nan,
                    "corpus": "demo",
                    "_spk": s,
                    "_cls": ci,
                    "_k": k,
                    "_text_category": cat,
                }
            )
    return rows


def _sentence(rng: np.random.Generator, category: str, cls: str) -> str:
    def pick(options: list[str]) -> str:
        return options[int(rng.integers(len(options)))]

    if category == "uninformative":
        template = pick(_UNINFORMATIVE)
    else:  # an emotion word always, sometimes with a phrase of the same emotion around it
        template = pick(_EMO_TEMPLATES)
        r = rng.random()
        if r < 0.3:
            template = pick(_PHRASES[cls]) + " and " + template
        elif r < 0.6:
            template = template + " because " + pick(_PHRASES[cls])
    return template.format(
        adj=pick(_ADJ[cls]),
        topic=pick(_TOPICS),
        day=pick(_DAYS),
        name=pick(_NAMES),
        time=pick(_TIMES),
    )


# --------------------------------------------------------------------------- synthesis


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


# --------------------------------------------------------------------------- writing


def _write_wav(path: Path, audio: np.ndarray, sr: int) -> None:
    """Encode in memory, then write in place.

    The corpus as a whole is atomic: the manifest is removed before the first wav and written
    (atomically) after the last. Per-file temp renames, and soundfile's fsync on close, cost
    more than the synthesis itself on slow file systems.
    """
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format="WAV", subtype="PCM_16")
    path.write_bytes(buf.getvalue())


def _remove_stale_wavs(wav_dir: Path, keep: set[Path]) -> None:
    """Delete demo wavs left by an earlier, larger run (only files this generator names)."""
    if not wav_dir.is_dir():
        return
    for f in wav_dir.glob("spk*/*.wav"):
        if _FILE_RE.match(f.name) and f.resolve() not in keep:
            f.unlink()


def _readme(n_speakers, n_per_class, classes, seed, sr, duration, n_rows) -> str:
    return (
        "# emoclassic demo corpus\n\n"
        "Generated by `emoclassic.data.make_demo_corpus`; synthetic speech-like audio and\n"
        "templated transcripts, deterministic for its arguments. Do not edit: regenerate.\n\n"
        f"- seed: {seed}\n"
        f"- speakers: {n_speakers} (spk01, spk03, ... female-like; spk02, spk04, ... male-like)\n"
        f"- classes: {', '.join(classes)}\n"
        f"- utterances per speaker and class: {n_per_class} ({n_rows} in all)\n"
        f"- sample rate: {sr} Hz, mono 16-bit WAV, {duration[0]}-{duration[1]} s each\n"
        "- splits by speaker (see `split` in manifest.csv); sessions of up to "
        f"{_SESSION_LEN} turns in `dialogue_id`\n"
        f"- transcripts: about {_P_MATCH:.0%} carry the label's emotion words, "
        f"{_P_UNINFORMATIVE:.0%} are uninformative, the rest carry another emotion's words\n"
    )
