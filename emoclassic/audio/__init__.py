"""The audio branch: loading, spectrograms, pooled features, openSMILE and AlexNet features.

Everything here is importable without torch; the AlexNet network class itself (``AlexNet``)
imports torch when first accessed. Names are imported on first use (:mod:`emoclassic._lazy`),
so that a saved pooled-features model loads without the AlexNet, openSMILE and plotting
modules (issue 16, fast start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:  # the names below, for type checkers and editors
    from ._alexnet import (
        AlexNetEmbedder,
        AlexNetSpectrogramClassifier,
        load_alexnet_weights,
        weights_sha256,
    )
    from ._audio2spectrogram import Audio2Spectrogram
    from ._base import AudioExtractor, audio_items
    from ._encodings import BagOfAudioWords, FisherVectors
    from ._frame_llds import FrameDescriptors
    from ._frames import FRAME_HEADER, LogMelFrames, split_frames
    from ._functionals import FUNCTIONALS, functionals
    from ._io import AudioInfo, audio_info, iter_windows, load_audio, load_windows, trim_silence
    from ._opensmile import OpenSmileFeatures
    from ._pitch import yin
    from ._pooled import PooledFeatures, pooled_features
    from ._presets import PRESETS, Preset
    from ._spectrogram import (
        add_deltas,
        delta,
        frame_signal,
        log_mel_spectrogram,
        mel_filterbank,
        mel_spectrogram,
        power_spectrogram,
        power_to_db,
        resize_image,
        spectrogram_image,
        stft_magnitude,
    )
    from ._spectrogram_plots import (
        plot_spectrogram,
        save_spectrogram_figure,
        save_spectrogram_png,
        save_spectrogram_pngs,
    )
    from ._torchutil import AlexNet

# public name -> submodule that defines it (imported on first access)
_LAZY = {
    "AlexNetEmbedder": "_alexnet",
    "AlexNetSpectrogramClassifier": "_alexnet",
    "load_alexnet_weights": "_alexnet",
    "weights_sha256": "_alexnet",
    "Audio2Spectrogram": "_audio2spectrogram",
    "AudioExtractor": "_base",
    "audio_items": "_base",
    "BagOfAudioWords": "_encodings",
    "FisherVectors": "_encodings",
    "FrameDescriptors": "_frame_llds",
    "FRAME_HEADER": "_frames",
    "LogMelFrames": "_frames",
    "split_frames": "_frames",
    "FUNCTIONALS": "_functionals",
    "functionals": "_functionals",
    "AudioInfo": "_io",
    "audio_info": "_io",
    "iter_windows": "_io",
    "load_audio": "_io",
    "load_windows": "_io",
    "trim_silence": "_io",
    "OpenSmileFeatures": "_opensmile",
    "yin": "_pitch",
    "PooledFeatures": "_pooled",
    "pooled_features": "_pooled",
    "PRESETS": "_presets",
    "Preset": "_presets",
    "add_deltas": "_spectrogram",
    "delta": "_spectrogram",
    "frame_signal": "_spectrogram",
    "log_mel_spectrogram": "_spectrogram",
    "mel_filterbank": "_spectrogram",
    "mel_spectrogram": "_spectrogram",
    "power_spectrogram": "_spectrogram",
    "power_to_db": "_spectrogram",
    "resize_image": "_spectrogram",
    "spectrogram_image": "_spectrogram",
    "stft_magnitude": "_spectrogram",
    "plot_spectrogram": "_spectrogram_plots",
    "save_spectrogram_figure": "_spectrogram_plots",
    "save_spectrogram_png": "_spectrogram_plots",
    "save_spectrogram_pngs": "_spectrogram_plots",
    "AlexNet": "_torchutil",
}

__all__ = [
    "AudioExtractor",
    "BagOfAudioWords",
    "FisherVectors",
    "FrameDescriptors",
    "AudioInfo",
    "Audio2Spectrogram",
    "FRAME_HEADER",
    "FUNCTIONALS",
    "LogMelFrames",
    "OpenSmileFeatures",
    "PRESETS",
    "PooledFeatures",
    "Preset",
    "add_deltas",
    "audio_info",
    "audio_items",
    "delta",
    "split_frames",
    "frame_signal",
    "functionals",
    "iter_windows",
    "load_audio",
    "load_windows",
    "log_mel_spectrogram",
    "mel_filterbank",
    "mel_spectrogram",
    "plot_spectrogram",
    "pooled_features",
    "power_spectrogram",
    "power_to_db",
    "resize_image",
    "save_spectrogram_figure",
    "save_spectrogram_png",
    "save_spectrogram_pngs",
    "spectrogram_image",
    "stft_magnitude",
    "trim_silence",
    "yin",
    "AlexNet",
    "AlexNetEmbedder",
    "AlexNetSpectrogramClassifier",
    "load_alexnet_weights",
    "weights_sha256",
]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
