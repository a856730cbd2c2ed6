"""A small, deterministic, generated corpus so that everything runs out of the box.

The audio is synthetic but speech-like (:mod:`._demo_speech`: a glottal source through moving
formants, shaped per emotion and speaker); the transcripts are templated English sentences
that carry the utterance's emotion, none, or another one's (:mod:`._demo_plan`, which also
decides speakers, splits and sessions). This module checks the arguments and writes the
corpus: wavs, ``manifest.csv`` (last) and ``README.md``.
"""

from __future__ import annotations

import io
import logging
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from .._atomic import atomic_write_text
from ..exceptions import ConfigError
from ._demo_plan import _P_MATCH, _P_UNINFORMATIVE, _SESSION_LEN, _plan
from ._demo_speech import _VOICES, DEMO_CLASSES, _speaker_profiles, _synthesize
from ._manifest import MANIFEST_COLUMNS, validate_manifest, write_manifest

__all__ = ["make_demo_corpus", "make_scale_corpus", "DEMO_CLASSES"]

logger = logging.getLogger(__name__)

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


# --------------------------------------------------------------------------- arguments


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
