"""Shared fixtures: a small generated demo corpus and a writer of test tones.

Keep this file small and stable; it is used by every test module.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Size of the shared demo corpus: 4 speakers (train, train, dev, test) x 4 classes x 6.
DEMO_SPEAKERS = 4
DEMO_PER_CLASS = 6
DEMO_SEED = 0


def write_tone_file(
    path: str | os.PathLike,
    freq: float = 440.0,
    sr: int = 16000,
    seconds: float = 0.5,
    channels: int = 1,
) -> Path:
    """Write a sine of ``freq`` Hz (amplitude 0.5) with soundfile; the format follows the
    extension (.wav, .flac, ...). Channels beyond the first get the same tone at rising
    frequency multiples so they differ. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(round(seconds * sr))) / sr
    data = np.stack([0.5 * np.sin(2 * np.pi * freq * (c + 1) * t) for c in range(channels)], 1)
    sf.write(path, data[:, 0] if channels == 1 else data, sr)
    return path


@pytest.fixture
def write_tone():
    """``write_tone(path, freq, sr, seconds, channels=1) -> Path`` (see write_tone_file)."""
    return write_tone_file


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory):
    """``(folder, manifest)``: a small demo corpus generated once per test session.

    96 utterances (4 speakers x 4 classes x 6) with ``manifest.csv`` in ``folder``; the
    manifest DataFrame has absolute paths. Treat both as read-only.
    """
    from emoclassic.data import make_demo_corpus

    folder = tmp_path_factory.mktemp("demo_corpus")
    manifest = make_demo_corpus(
        folder, n_speakers=DEMO_SPEAKERS, n_per_class=DEMO_PER_CLASS, seed=DEMO_SEED
    )
    return folder, manifest
