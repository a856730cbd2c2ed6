"""The audio package split by job: old import paths, old pickles and one BLAS thread still hold.

``_pooled``, ``_spectrogram`` and ``_alexnet`` were split into modules named after what they
hold; what moved out stays importable from the old private paths (benchmarks import from them,
and a model pickled before the split names them), and the extractors that used to limit BLAS to
one thread in their own ``_compute_batch`` still do, through the base class.
"""

from __future__ import annotations

import contextlib
import importlib
import pickle

import numpy as np
import pytest

import emoclassic.audio as audio
from emoclassic.audio import _base

OLD_PATHS = [
    ("_spectrogram", "Audio2Spectrogram"),
    ("_spectrogram", "SPECTROGRAM_KINDS"),
    ("_spectrogram", "plot_spectrogram"),
    ("_spectrogram", "save_spectrogram_figure"),
    ("_spectrogram", "save_spectrogram_png"),
    ("_spectrogram", "save_spectrogram_pngs"),
    ("_spectrogram", "spectrogram_image"),
    ("_pooled", "PRESETS"),
    ("_pooled", "Preset"),
    ("_pooled", "FUNCTIONALS"),
    ("_pooled", "functionals"),
    ("_pooled", "BASIC"),
    ("_pooled", "LARGE"),
    ("_pooled", "MS"),
    ("_pooled", "STATS"),
    ("_alexnet", "AlexNetSpectrogramClassifier"),
    ("_alexnet", "load_alexnet_weights"),
    ("_alexnet", "weights_sha256"),
    ("_alexnet", "_frozen_net"),
    ("_alexnet", "_one_blas_thread"),
]


@pytest.mark.parametrize("module, name", OLD_PATHS)
def test_moved_names_stay_importable_from_the_old_modules(module, name):
    value = getattr(importlib.import_module(f"emoclassic.audio.{module}"), name)
    if name in audio.__all__:
        assert value is getattr(audio, name)


def test_unknown_names_still_raise_attribute_error_naming_the_module():
    for module in ("_spectrogram", "_alexnet"):
        mod = importlib.import_module(f"emoclassic.audio.{module}")
        with pytest.raises(AttributeError, match=f"emoclassic.audio.{module}"):
            mod.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    "est, new, old",
    [
        (audio.Audio2Spectrogram(n_mels=32, deltas=True), "_audio2spectrogram", "_spectrogram"),
        (audio.AlexNetSpectrogramClassifier(epochs=2), "_alexnet_classifier", "_alexnet"),
    ],
)
def test_estimators_pickled_before_the_split_still_load(est, new, old):
    blob = pickle.dumps(est, protocol=0)  # text opcodes: the class's module is a plain line
    before = blob.replace(f"emoclassic.audio.{new}\n".encode(),
                          f"emoclassic.audio.{old}\n".encode())
    assert before != blob
    loaded = pickle.loads(before)
    assert type(loaded) is type(est)
    assert loaded.get_params() == est.get_params()


@pytest.mark.parametrize(
    "est",
    [
        audio.PooledFeatures(preset="compact"),
        audio.Audio2Spectrogram(),
        audio.LogMelFrames(max_frames=10),
    ],
    ids=lambda e: type(e).__name__,
)
def test_batches_run_with_one_blas_thread(est, monkeypatch):
    entered = []

    @contextlib.contextmanager
    def recording():
        entered.append(True)
        yield

    monkeypatch.setattr(_base, "single_thread_blas", recording)
    X = np.random.default_rng(0).standard_normal((2, 4000)).astype(np.float32) * 0.1
    est.fit_transform(X)
    assert entered
