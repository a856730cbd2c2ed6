"""The torch side of the audio branch: the AlexNet network and its torchvision layout.

Only what is particular to spectrogram CNNs lives here (the network, its folded first
convolution, torchvision's parameter names). What every trainable torch model shares —
thread scoping, determinism, seeding, the training loop — is in :mod:`emoclassic._torch`, a
leaf module that this branch and ``emoclassic.models`` both import.

This module imports torch at the top, so only functions that need a network import it
(``import emoclassic`` and the audio-only path stay fast).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "AlexNet",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LAYERS",
    "torchvision_layout",
]

#: ImageNet statistics the torchvision weights were trained with (RGB order).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Layers whose activations serve as embeddings, and ``"logits"`` (the class scores).
LAYERS = ("conv5", "fc6", "fc7", "logits")


def torchvision_layout(
    num_classes: int = 1000, in_channels: int = 3, hidden_size: int = 4096
) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of torchvision's ``alexnet`` (its state dict, in order)."""
    return {
        "features.0.weight": (64, in_channels, 11, 11),
        "features.0.bias": (64,),
        "features.3.weight": (192, 64, 5, 5),
        "features.3.bias": (192,),
        "features.6.weight": (384, 192, 3, 3),
        "features.6.bias": (384,),
        "features.8.weight": (256, 384, 3, 3),
        "features.8.bias": (256,),
        "features.10.weight": (256, 256, 3, 3),
        "features.10.bias": (256,),
        "classifier.1.weight": (hidden_size, 256 * 6 * 6),
        "classifier.1.bias": (hidden_size,),
        "classifier.4.weight": (hidden_size, hidden_size),
        "classifier.4.bias": (hidden_size,),
        "classifier.6.weight": (num_classes, hidden_size),
        "classifier.6.bias": (num_classes,),
    }


class _MaxPool(nn.MaxPool2d):
    """AlexNet's 3×3/2 max pool, also defined on maps smaller than its window.

    Below about 63×63 input pixels the last pools would see a 1×1 or 2×2 map and torch
    refuses; padding such a map with -inf to 3×3 takes the max over what is there. At the
    usual sizes (≥ 63 px) this is exactly ``nn.MaxPool2d(3, 2)``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h < 3 or w < 3:
            x = F.pad(x, (0, max(0, 3 - w), 0, max(0, 3 - h)), value=float("-inf"))
        return super().forward(x)


class AlexNet(nn.Module):
    """AlexNet with torchvision's parameter names, modified to read spectrogram images.

    The parameters (``features.0`` … ``classifier.6``) have torchvision's names and shapes, so
    an ``alexnet`` state dict (``alexnet-owt-7be5be79.pth``) loads with ``strict=True``.
    ``forward`` is torchvision's (a normalised ``in_channels`` image batch → logits). The
    modifications are for spectrograms:

    * :meth:`forward_spectrogram` takes single-channel images in [0, 1], ``(B, 1, H, W)`` or
      ``(B, H, W)``, replicates them to the input channels and applies ImageNet mean/std
      normalisation — folded exactly into the first convolution, which then runs on one
      channel: about 40 % of conv1's multiply-adds, and no 3-channel copy of the batch;
    * any input size from 16 px works (the adaptive 6×6 pool fixes the classifier's input;
      pools on too-small maps take the max over what is there);
    * activations of ``conv5`` (global average of the pooled conv stack, 256-d), ``fc6``
      and ``fc7`` (after ReLU, ``hidden_size``-d) are returned for ``layer=...``.

    ``hidden_size`` (default AlexNet's 4096) narrows fc6/fc7 for small trainable models;
    pretrained fully connected weights then do not apply.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        dropout: float = 0.5,
        in_channels: int = 3,
        hidden_size: int = 4096,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            _MaxPool(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            _MaxPool(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            _MaxPool(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, hidden_size),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden_size, hidden_size),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_size, num_classes),
        )
        self.reset_input_stats()

    def reset_input_stats(self) -> None:
        """(Re)create the normalisation buffers (not in the state dict: torchvision's keys only).

        ImageNet's mean/std per channel for 3 channels, their averages otherwise.
        """
        c = self.in_channels
        if c == 3:
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        else:
            mean, std = (sum(IMAGENET_MEAN) / 3,) * c, (sum(IMAGENET_STD) / 3,) * c
        dev = self.features[0].bias.device
        if dev.type == "meta":  # built without storage, parameters to be assigned
            dev = torch.device("cpu")
        self.register_buffer("input_mean", torch.tensor(mean, device=dev), persistent=False)
        self.register_buffer("input_std", torch.tensor(std, device=dev), persistent=False)

    @property
    def in_channels(self) -> int:
        return self.features[0].in_channels

    @property
    def num_classes(self) -> int:
        return self.classifier[6].out_features

    @property
    def hidden_size(self) -> int:
        return self.classifier[1].out_features

    def init_weights(self) -> None:
        """He initialisation (scale-preserving through ReLUs), small output layer, zero biases.

        Used for random-init embeddings and training from scratch: torch's default init
        shrinks activations about 2.5× per layer, which leaves deep random features tiny.
        """
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.classifier[6].weight, std=0.01)

    # -- torchvision's path ---------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Torchvision's forward: normalised ``(B, in_channels, H, W)`` images → logits."""
        return self.embed(x, "logits")

    def embed(self, x: torch.Tensor, layer: str = "fc7") -> torch.Tensor:
        """Activations of ``layer`` for normalised ``(B, in_channels, H, W)`` images."""
        return self._head(self.features(x), layer)

    # -- the spectrogram path -------------------------------------------------------------
    def normalise_spectrogram(self, s: torch.Tensor) -> torch.Tensor:
        """The reference input: ``s`` in [0, 1] replicated (a view) and ImageNet-normalised."""
        s = _as_nchw1(s)
        x = s.expand(-1, self.in_channels, -1, -1)
        return (x - self.input_mean.view(1, -1, 1, 1)) / self.input_std.view(1, -1, 1, 1)

    #: how the single-channel conv1 runs: "s2d" (space-to-depth 3×3) or "direct"
    conv1_impl = "s2d"

    def spectrogram_conv1(self, s: torch.Tensor) -> torch.Tensor:
        """The first convolution of the normalised, replicated image, computed on one channel.

        With identical channels, conv(Σ_c (s − m_c)/σ_c ∗ W_c) = s ∗ Σ_c W_c/σ_c − 1 ∗ Σ_c
        W_c m_c/σ_c. The last term is constant away from the border and folds into the bias;
        on the border rows and columns (where torch pads the *normalised* image with zeros)
        it is corrected with the convolution of an all-ones image, so the result is exact.
        """
        s = _as_nchw1(s)
        conv = self.features[0]
        scaled = conv.weight / self.input_std.view(1, -1, 1, 1)
        w1 = scaled.sum(1, keepdim=True)
        wb = (scaled * self.input_mean.view(1, -1, 1, 1)).sum(1, keepdim=True)
        inner = wb.sum(dim=(1, 2, 3))
        if self.conv1_impl == "s2d":
            out = _conv11s4(s, w1, conv.bias - inner)
        else:
            out = F.conv2d(s, w1, conv.bias - inner, conv.stride, conv.padding)
            out = out.contiguous(memory_format=torch.channels_last)
        ones = torch.ones((1, 1, *s.shape[-2:]), dtype=s.dtype, device=s.device)
        corr = inner.view(1, -1, 1, 1) - F.conv2d(ones, wb, None, conv.stride, conv.padding)
        return _add_border(out, corr, conv, s.shape[-2:])

    def forward_spectrogram(self, s: torch.Tensor, layer: str = "logits") -> torch.Tensor:
        """Activations of ``layer`` (``conv5``, ``fc6``, ``fc7`` or ``logits``) for images in
        [0, 1] of shape ``(B, 1, H, W)`` or ``(B, H, W)``."""
        x = self.spectrogram_conv1(s)
        return self._head(self.features[1:](x), layer)

    # -- shared ---------------------------------------------------------------------------
    def _head(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        if layer not in LAYERS:
            raise ValueError(f"layer={layer!r} is not one of {LAYERS}")
        if layer == "conv5":
            return x.mean(dim=(2, 3))
        x = torch.flatten(self.avgpool(x), 1)
        x = self.classifier[:3](x)
        if layer == "fc6":
            return x
        x = self.classifier[3:6](x)
        if layer == "fc7":
            return x
        return self.classifier[6](x)


def _conv11s4(s: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """``F.conv2d(s, w, b, stride=4, padding=2)`` for one input channel and an 11×11 kernel,
    computed exactly as a 3×3 convolution of the 4×4 space-to-depth image (16 channels).

    oneDNN has no efficient kernel for a single-channel strided convolution; this form runs
    on its regular blocked path and writes channels_last output directly (measured in
    benchmarks/speed/alexnet.py against the direct form, ``conv1_impl = "direct"``).
    """
    h, wd = s.shape[-2:]
    ho, wo = (h - 7) // 4 + 1, (wd - 7) // 4 + 1
    ph = max(4 * -(-(h + 4) // 4), 4 * (ho + 2))
    pw = max(4 * -(-(wd + 4) // 4), 4 * (wo + 2))
    x = F.pixel_unshuffle(F.pad(s, (2, pw - wd - 2, 2, ph - h - 2)), 4)
    x = x.contiguous(memory_format=torch.channels_last)
    # kernel tap (4i + r, 4j + c) of the zero-padded 12×12 kernel → channel 4r + c, tap (i, j)
    k = F.pad(w, (0, 1, 0, 1)).reshape(w.shape[0], 3, 4, 3, 4).permute(0, 2, 4, 1, 3)
    k = k.reshape(w.shape[0], 16, 3, 3).contiguous(memory_format=torch.channels_last)
    return F.conv2d(x, k, b)[..., :ho, :wo]


def _border(n_in: int, n_out: int, kernel: int, stride: int, pad: int) -> tuple[int, int]:
    """How many leading and trailing outputs of a convolution read padding."""
    lead = min(n_out, -(-pad // stride))
    last_inner = (n_in + pad - kernel) // stride  # last output whose window stays inside
    trail = min(n_out, max(0, n_out - 1 - last_inner))
    return lead, trail


def _add_border(out: torch.Tensor, corr: torch.Tensor, conv: nn.Conv2d, size) -> torch.Tensor:
    """``out + corr``, where ``corr`` (1, C, H, W) is zero (up to rounding) away from the
    outputs that read padding: only those rows and columns are touched, in place."""
    h, w = out.shape[-2:]
    (k, _), (st, _), (p, _) = conv.kernel_size, conv.stride, conv.padding
    top, bottom = _border(size[0], h, k, st, p)
    left, right = _border(size[1], w, k, st, p)
    if top + bottom >= h or left + right >= w:  # tiny map: all border
        return out + corr
    for r in (slice(0, top), slice(h - bottom, h)):  # full rows, corners included
        if r.start < r.stop:
            out[:, :, r, :] += corr[:, :, r, :]
    mid = slice(top, h - bottom)
    for c in (slice(0, left), slice(w - right, w)):
        if c.start < c.stop:
            out[:, :, mid, c] += corr[:, :, mid, c]
    return out


def _as_nchw1(s: torch.Tensor) -> torch.Tensor:
    if s.dim() == 3:
        s = s.unsqueeze(1)
    if s.dim() != 4 or s.shape[1] != 1:
        raise ValueError(
            f"spectrogram batch has shape {tuple(s.shape)}; expected (B, H, W) or (B, 1, H, W)"
        )
    return s
