"""The AlexNet network outside its torch module: weights files, building it, running it.

What both AlexNet estimators (the frozen :class:`~._alexnet.AlexNetEmbedder` and the trainable
:class:`~._alexnet_classifier.AlexNetSpectrogramClassifier`) need from the network: reading and
checking a torchvision state dict, its sha256 (the weights' identity in cache keys and model
cards), a network with given or seeded weights, and a forward pass whose output does not depend
on batch composition. The torch module itself is :class:`~._torchutil.AlexNet`; torch is
imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._torch import forward_padded, seeded
from ..exceptions import ConfigError, ModelError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ._torchutil import AlexNet

__all__ = ["load_alexnet_weights", "weights_sha256"]

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def weights_sha256(path: str | os.PathLike) -> str:
    """sha256 of a weights file, computed once per process per (path, size, mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def load_alexnet_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a torchvision-format AlexNet state dict from a local file, checked key by key.

    Accepts torchvision's ``alexnet-owt-7be5be79.pth`` (any number of classes in
    ``classifier.6``, 1 or 3 input channels), a ``{"state_dict": ...}`` wrapper and
    ``module.``-prefixed keys. Loads with ``weights_only=True`` (no code runs) and never
    downloads. Raises :class:`ConfigError` for a missing file and :class:`ModelError` for a
    file that is not such a state dict, naming the first wrong keys or shapes.
    """
    import torch

    from ._torchutil import torchvision_layout

    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"AlexNet weights file {str(p)!r} does not exist; give the path of a local "
            "torchvision alexnet state dict such as alexnet-owt-7be5be79.pth"
        )
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user problem
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"AlexNet weights file {str(p)!r} cannot be read as a torch state dict ({msg}); "
            "save it with torch.save(model.state_dict(), path)"
        ) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise ModelError(
            f"AlexNet weights file {str(p)!r} holds a {type(obj).__name__}, not a state dict of "
            "tensors; save it with torch.save(model.state_dict(), path)"
        )
    state = {k.removeprefix("module."): v for k, v in obj.items()}
    w0, w6 = state.get("features.0.weight"), state.get("classifier.6.weight")
    in_ch = int(w0.shape[1]) if w0 is not None and w0.dim() == 4 else 3
    n_cls = int(w6.shape[0]) if w6 is not None and w6.dim() == 2 else 1000
    expected = torchvision_layout(num_classes=n_cls, in_channels=in_ch)
    problems = [
        f"{k} has shape {tuple(state[k].shape)}, expected {shape}"
        for k, shape in expected.items()
        if k in state and tuple(state[k].shape) != shape
    ]
    problems += [f"missing {k}" for k in expected if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in expected]
    if in_ch not in (1, 3):
        problems.insert(0, f"features.0.weight has {in_ch} input channels, expected 3 (or 1)")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ModelError(
            f"AlexNet weights file {str(p)!r} is not a torchvision alexnet state dict: "
            f"{'; '.join(problems[:3])}{more}; use torchvision's alexnet-owt-7be5be79.pth"
        )
    bad = [k for k, v in state.items() if not v.is_floating_point()]
    if bad:
        raise ModelError(
            f"AlexNet weights file {str(p)!r} has non-float tensors ({', '.join(bad[:3])}); "
            "save float weights"
        )
    return {k: state[k].float() for k in expected}


def _build_net(
    state: dict[str, Any] | None,
    *,
    num_classes: int,
    hidden_size: int = 4096,
    dropout: float = 0.5,
    seed: int = 0,
) -> AlexNet:
    """An AlexNet with exactly ``state`` (numpy arrays or tensors, assigned without a copy)
    or, with ``state=None``, a seeded He initialisation."""
    import torch

    from ._torchutil import AlexNet

    if state is None:
        with seeded(seed):
            net = AlexNet(num_classes=num_classes, dropout=dropout, hidden_size=hidden_size)
            net.init_weights()
        return net
    tensors = {}
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(v if v.flags.writeable else np.array(v))
        tensors[k] = v
    in_ch = int(tensors["features.0.weight"].shape[1])
    with torch.device("meta"):
        net = AlexNet(
            num_classes=num_classes, dropout=dropout, in_channels=in_ch, hidden_size=hidden_size
        )
    net.load_state_dict(tensors, strict=True, assign=True)
    net.reset_input_stats()
    return net


def _weights_identity(weights, seed) -> str:
    return f"sha256:{weights_sha256(weights)}" if weights is not None else f"random-seed-{seed}"


def _weights_info(weights, seed) -> dict:
    if weights is None:
        return {"pretrained": False, "source": "random", "sha256": None, "seed": int(seed)}
    _check_weights_path(weights)
    return {
        "pretrained": True,
        "source": str(weights),
        "sha256": weights_sha256(weights),
        "seed": None,
    }


def _check_weights_path(weights) -> None:
    if not isinstance(weights, (str, os.PathLike)):
        raise ConfigError(
            f"weights={weights!r} is not a file path; give a local alexnet state dict or None"
        )
    if not Path(weights).is_file():
        raise ConfigError(
            f"AlexNet weights file {str(weights)!r} does not exist; give the path of a local "
            "torchvision alexnet state dict such as alexnet-owt-7be5be79.pth, or None for a "
            "seeded random initialisation"
        )


def _forward_padded(net, x, layer: str, batch_size: int) -> np.ndarray:
    """``net.forward_spectrogram(·, layer)`` over ``x`` in batches of exactly ``batch_size``
    (the last one zero-padded), so a clip's output does not depend on which other clips share
    its batch (see :func:`emoclassic._torch.forward_padded`)."""
    return forward_padded(lambda xb: net.forward_spectrogram(xb, layer), [x], batch_size).numpy()
