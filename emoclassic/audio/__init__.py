"""The audio branch: loading, spectrograms, pooled features, openSMILE and AlexNet features.

Everything here is importable without torch; the AlexNet network class itself (``AlexNet``)
imports torch when first accessed.
"""

from .._lazy import lazy_attributes
from ._alexnet import (  # the torch module ``AlexNet`` itself: see __getattr__ below
    AlexNetEmbedder,
    AlexNetSpectrogramClassifier,
    load_alexnet_weights,
    weights_sha256,
)
from ._audio2spectrogram import Audio2Spectrogram
from ._base import AudioExtractor, audio_items
from ._frames import FRAME_HEADER, LogMelFrames, split_frames
from ._functionals import FUNCTIONALS, functionals
from ._io import AudioInfo, audio_info, iter_windows, load_audio, load_windows, trim_silence
from ._opensmile import OpenSmileFeatures  # imports opensmile only when used
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

# AlexNet (the torch module) is imported only when asked for
__getattr__, __dir__ = lazy_attributes(__name__, {"AlexNet": "_torchutil"}, globals())


__all__ = [
    "AudioExtractor",
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
    # AlexNet
    "AlexNet",
    "AlexNetEmbedder",
    "AlexNetSpectrogramClassifier",
    "load_alexnet_weights",
    "weights_sha256",
]
