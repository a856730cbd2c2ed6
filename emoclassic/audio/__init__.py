"""The audio branch: loading, spectrograms, pooled features, openSMILE and AlexNet features.

Everything here is importable without torch; the AlexNet network class itself (``AlexNet``)
imports torch when first accessed.
"""

# --- AlexNet (emoclassic/audio/_alexnet.py, owned by the AlexNet work; see __getattr__ below) ---
from ._alexnet import (
    AlexNetEmbedder,
    AlexNetSpectrogramClassifier,
    load_alexnet_weights,
    weights_sha256,
)

# --- loading, spectrograms, pooled features ----------------------------------------------------
from ._base import AudioExtractor, audio_items
from ._frames import FRAME_HEADER, LogMelFrames, split_frames
from ._io import AudioInfo, audio_info, iter_windows, load_audio, load_windows, trim_silence
from ._opensmile import OpenSmileFeatures  # imports opensmile only when used
from ._pitch import yin
from ._pooled import FUNCTIONALS, PRESETS, PooledFeatures, Preset, functionals, pooled_features
from ._spectrogram import (
    Audio2Spectrogram,
    add_deltas,
    delta,
    frame_signal,
    log_mel_spectrogram,
    mel_filterbank,
    mel_spectrogram,
    plot_spectrogram,
    power_spectrogram,
    power_to_db,
    resize_image,
    save_spectrogram_figure,
    save_spectrogram_png,
    save_spectrogram_pngs,
    spectrogram_image,
    stft_magnitude,
)


def __getattr__(name: str):  # AlexNet (the torch module) is imported only when asked for
    if name == "AlexNet":
        from ._torchutil import AlexNet

        return AlexNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- end AlexNet -------------------------------------------------------------------------------

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
