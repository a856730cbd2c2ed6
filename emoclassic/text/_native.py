"""Which text models emoclassic's own BERT encoder runs, and their tokenizer (no torch here).

Why an own path at all: a cold ``emoclassic predict`` with a fused model spent most of its
time importing sentence-transformers, which pulls in transformers' modelling utilities,
``torch.distributed.tensor``, ``torch._dynamo``, sympy and more; ``from transformers import
BertModel`` alone costs most of that. A BERT encoder's forward pass is a few dozen lines of
torch (:mod:`._bert`) and its tokenizer is the ``tokenizers`` library reading
``tokenizer.json``, so the models that need nothing else run without either import (the
measured start-up times are in :mod:`._bert`'s docstring).

The own path runs a model when all of this holds, checked here from the folder's files:

* ``config.json``: ``model_type`` "bert", absolute position embeddings, an encoder (not a
  decoder, no cross-attention), ``hidden_act`` one of :data:`ACTIVATIONS`, float32 or no dtype;
* weights: ``model.safetensors`` or ``pytorch_model.bin`` (not sharded) holding exactly a
  BertModel's encoder tensors in float32 with the shapes the config implies (optionally under
  ``bert.``; a pooler and pre-training heads are ignored, as the Transformer module ignores
  them);
* the sentence-transformers Transformer module (``sentence_bert_config.json``) sets nothing
  but ``max_seq_length``, ``do_lower_case`` and its defaults;
* the tokenizer: ``tokenizer.json`` with a WordPiece model, BertNormalizer (clean_text) and
  BertPreTokenizer, a ``tokenizer_config.json`` (if any) of class BertTokenizer that adds no
  tokens or options the file lacks (see :func:`_tokenizer_reason`);
* the sentence vector (the module chain after the Transformer, see ``module_chain``): Pooling
  with modes from :data:`POOLING_MODES`, then optionally Normalize.

Everything else (other architectures such as RoBERTa or DistilBERT, Dense or other modules,
other pooling modes, folders without ``tokenizer.json``, sharded or half-precision weights, any
setting above the own path does not read) runs through sentence-transformers as before, and
the reason is logged at debug level.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError
from ._models import (
    _LOCK,
    ChainStep,
    ModelRef,
    _folder_memo,
    _read_json,
    _stats,
    model_config,
    prepend_lowercase,
    transformer_settings,
)

logger = logging.getLogger(__name__)

__all__ = [
    "ACTIVATIONS",
    "POOLING_MODES",
    "BertSettings",
    "WordPieceTokenizer",
    "bert_settings",
    "expected_weights",
    "load_wordpiece",
    "own_path_reason",
    "plain_normalize",
    "read_weight_index",
]

#: ``hidden_act`` values the own encoder computes exactly as transformers does
ACTIVATIONS = ("gelu", "relu", "gelu_new", "gelu_pytorch_tanh")
#: Pooling modes the own pooling computes (sentence-transformers' formulas)
POOLING_MODES = ("cls", "max", "mean")
#: ``sentence_bert_config.json`` keys the own path reads, and the defaults it accepts for others
_ST_READ = ("max_seq_length", "do_lower_case")
_ST_DEFAULTS: dict[str, tuple] = {
    "transformer_task": ("feature-extraction",),
    "module_output_name": ("token_embeddings",),
    "modality_config": (
        None,
        {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
    ),
    "processing_kwargs": (None, {}),
    "unpad_inputs": (None, False),
    "backend": ("torch",),
    "query_length": (None,),
    "document_length": (None,),
    "query_expansion": (None,),
    "model_args": (None, {}),
    "tokenizer_args": (None, {}),
    "config_args": (None, {}),
}
#: weights a BertModel checkpoint may hold that the token embeddings never read
_IGNORED_PREFIXES = ("pooler.", "cls.", "classifier.", "qa_outputs.", "embeddings.position_ids",
                     "embeddings.token_type_ids")  # fmt: skip
#: BertTokenizer defaults (transformers) for what tokenizer_config.json may leave out
_SPECIAL_DEFAULTS = {
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}
_TOKENIZER_CLASSES = (None, "BertTokenizer", "BertTokenizerFast")


@dataclass(frozen=True)
class BertSettings:
    """What the own encoder needs of a BERT model: sizes from ``config.json`` and its weights.

    ``prefix`` is ``""`` or ``"bert."`` (a checkpoint saved from a model with heads).
    """

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    hidden_act: str
    weights: Path
    prefix: str


# --------------------------------------------------------------------------- the decision
def own_path_reason(ref: ModelRef, steps: list[ChainStep]) -> str | None:
    """Why the own BERT path cannot run ``ref`` with the module chain ``steps``; None if it can.

    Cheap after the first call per folder (memoised on the files' sizes and times); loads the
    tokenizer (no torch) when it has not been loaded yet, since its checks read the file.
    """
    for step in steps:
        if step.kind == "Pooling":
            modes = [m for m in step.config["pooling_mode"] if m not in POOLING_MODES]
            if modes:
                return f"pooling mode {'+'.join(modes)} (the own path pools {POOLING_MODES})"
        elif step.kind != "Normalize" or not plain_normalize(step.config):
            return f"a {step.kind} module {step.config} (the own path runs Pooling and Normalize)"
    settings = bert_settings(ref)
    if isinstance(settings, str):
        return settings
    tokenizer = load_wordpiece(ref)
    return tokenizer if isinstance(tokenizer, str) else None


def plain_normalize(config: dict) -> bool:
    """Whether a Normalize module's config is the default: L2 of the sentence vector."""
    source = config.get("module_input_name", "sentence_embedding")
    return source == "sentence_embedding" and config.get("module_output_name") in (None, source)


def bert_settings(ref: ModelRef) -> BertSettings | str:
    """The model's :class:`BertSettings`, or why the own encoder cannot run it (a string)."""
    return _folder_memo(("own_bert", ref), lambda: _bert_settings(ref))


def _bert_settings(ref: ModelRef) -> tuple[BertSettings | str, tuple[Path, ...]]:
    safetensors, pickled = ref.path / "model.safetensors", ref.path / "pytorch_model.bin"
    paths = (ref.path, ref.path / "config.json", safetensors, pickled,
             ref.path / "sentence_bert_config.json")  # fmt: skip
    reason = _st_transformer_reason(ref)
    if reason:
        return reason, paths
    settings = _config_settings(ref, safetensors if safetensors.is_file() else pickled)
    if isinstance(settings, str):
        return settings, paths
    if not settings.weights.is_file():
        return "no model.safetensors or pytorch_model.bin (sharded or other weights)", paths
    try:
        index = read_weight_index(settings.weights)
    except ConfigError as exc:  # e.g. a pre-1.6 torch pickle: transformers may still read it
        return f"weights not readable here ({exc})", paths
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in index else ""
    settings = replace(settings, prefix=prefix)
    expected = expected_weights(settings)
    for name, (dtype, shape) in index.items():
        if name in expected:
            if dtype != "float32" or shape != expected[name]:
                return (f"weight {name} is {dtype} {list(shape)}, not float32 "
                        f"{list(expected[name])}"), paths  # fmt: skip
        elif not name.removeprefix(prefix).startswith(_IGNORED_PREFIXES):
            return f"weight {name} is not a BertModel encoder's", paths
    missing = sorted(set(expected) - set(index))
    if missing:
        return f"weights lack {missing[0]} ({len(missing)} missing)", paths
    return settings, paths


def _st_transformer_reason(ref: ModelRef) -> str | None:
    for key, value in transformer_settings(ref).items():
        if key in _ST_READ:
            continue
        if key not in _ST_DEFAULTS or value not in _ST_DEFAULTS[key]:
            return f"sentence_bert_config.json sets {key}={value!r}"
    return None


def _config_settings(ref: ModelRef, weights: Path) -> BertSettings | str:
    cfg = model_config(ref)
    if cfg.get("model_type") != "bert":
        return f"model_type {cfg.get('model_type')!r} (the own encoder runs 'bert')"
    checks = {
        "position_embedding_type": (None, "absolute"),
        "is_decoder": (None, False),
        "add_cross_attention": (None, False),
        "dtype": (None, "float32"),
        "torch_dtype": (None, "float32"),
        "hidden_act": (None, *ACTIVATIONS),
    }
    for key, allowed in checks.items():
        if cfg.get(key) not in allowed:
            return f"config.json sets {key}={cfg.get(key)!r}"
    sizes = {}
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "max_position_embeddings"):  # fmt: skip
        value = cfg.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"config.json has no usable {key}"
        sizes[key] = value
    type_vocab = cfg.get("type_vocab_size", 2)
    eps = cfg.get("layer_norm_eps", 1e-12)
    if not isinstance(type_vocab, int) or type_vocab < 1 or not isinstance(eps, (int, float)):
        return "config.json has an unusable type_vocab_size or layer_norm_eps"
    if sizes["hidden_size"] % sizes["num_attention_heads"]:
        return "hidden_size is not a multiple of num_attention_heads"
    return BertSettings(
        vocab_size=sizes["vocab_size"],
        hidden_size=sizes["hidden_size"],
        num_layers=sizes["num_hidden_layers"],
        num_heads=sizes["num_attention_heads"],
        intermediate_size=sizes["intermediate_size"],
        max_positions=sizes["max_position_embeddings"],
        type_vocab_size=type_vocab,
        layer_norm_eps=float(eps),
        hidden_act=cfg.get("hidden_act") or "gelu",
        weights=weights,
        prefix="",
    )


def expected_weights(s: BertSettings) -> dict[str, tuple[int, ...]]:
    """Every tensor a BertModel's embeddings and encoder read, by checkpoint name, with shape."""
    h, i, p = s.hidden_size, s.intermediate_size, s.prefix
    out = {
        f"{p}embeddings.word_embeddings.weight": (s.vocab_size, h),
        f"{p}embeddings.position_embeddings.weight": (s.max_positions, h),
        f"{p}embeddings.token_type_embeddings.weight": (s.type_vocab_size, h),
        f"{p}embeddings.LayerNorm.weight": (h,),
        f"{p}embeddings.LayerNorm.bias": (h,),
    }
    for n in range(s.num_layers):
        layer = f"{p}encoder.layer.{n}."
        for name, shape in (
            ("attention.self.query", (h, h)),
            ("attention.self.key", (h, h)),
            ("attention.self.value", (h, h)),
            ("attention.output.dense", (h, h)),
            ("intermediate.dense", (i, h)),
            ("output.dense", (h, i)),
        ):
            out[f"{layer}{name}.weight"] = shape
            out[f"{layer}{name}.bias"] = (shape[0],)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            out[f"{layer}{norm}.weight"] = (h,)
            out[f"{layer}{norm}.bias"] = (h,)
    return out


_SAFETENSORS_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


def read_weight_index(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{name: (dtype, shape)}`` of a checkpoint's tensors, without reading the tensors.

    A safetensors file is read from its JSON header (no torch); a ``pytorch_model.bin`` is
    opened memory-mapped with ``torch.load(weights_only=True)``.
    """
    try:
        if path.suffix == ".safetensors":
            with open(path, "rb") as fh:
                size = int.from_bytes(fh.read(8), "little")
                if not 0 < size < 1 << 27:
                    raise ValueError(f"header size {size}")
                header = json.loads(fh.read(size))
            return {
                name: (_SAFETENSORS_DTYPES.get(v["dtype"], v["dtype"]), tuple(v["shape"]))
                for name, v in header.items()
                if name != "__metadata__"
            }
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return {
            name: (str(t.dtype).removeprefix("torch."), tuple(t.shape))
            for name, t in state.items()
        }
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError) as exc:
        raise ConfigError(
            f"{path}: unreadable weights ({(str(exc).splitlines() or [type(exc).__name__])[0]}); "
            "save the model again with save_pretrained"
        ) from exc


# --------------------------------------------------------------------------- the tokenizer
class WordPieceTokenizer:
    """A BERT tokenizer read from ``tokenizer.json`` by the ``tokenizers`` library.

    It tokenises as transformers' ``BertTokenizer`` built from the same folder does (the
    normaliser's options from ``tokenizer_config.json``, which transformers lets override the
    file's; no truncation or padding: emoclassic assembles the ids itself) and answers the
    few things the embedder asks a tokenizer: the special tokens' ids, ``model_max_length``,
    and ``tokenizer(texts, add_special_tokens=False)["input_ids"]``.
    """

    is_fast = True
    bos_token_id = None
    eos_token_id = None

    def __init__(self, backend: Any, *, cls_token_id: int, sep_token_id: int,
                 pad_token_id: int, model_max_length: int | None):  # fmt: skip
        self.backend_tokenizer = backend
        self.cls_token_id = cls_token_id
        self.sep_token_id = sep_token_id
        self.pad_token_id = pad_token_id
        self.model_max_length = model_max_length

    def __call__(self, texts: list[str], add_special_tokens: bool = True,
                 verbose: bool = False) -> dict[str, list[list[int]]]:  # fmt: skip
        encoded = self.backend_tokenizer.encode_batch(
            list(texts), add_special_tokens=add_special_tokens
        )
        return {"input_ids": [e.ids for e in encoded]}


_WORDPIECE: dict[tuple, WordPieceTokenizer | str] = {}


def load_wordpiece(ref: ModelRef) -> WordPieceTokenizer | str:
    """The folder's :class:`WordPieceTokenizer`, loaded once per process, or why it has none.

    Keyed on the tokenizer files' sizes and times, so a folder saved again is read again.
    """
    files = tuple(ref.path / n for n in ("tokenizer.json", "tokenizer_config.json",
                                          "special_tokens_map.json", "sentence_bert_config.json"))
    key = (str(ref.path), _stats(files))
    with _LOCK:
        hit = _WORDPIECE.get(key)
    if hit is None:
        hit = _load_wordpiece(ref)
        with _LOCK:
            hit = _WORDPIECE.setdefault(key, hit)
    return hit


def _token(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or ``{"content": ...}``."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _load_wordpiece(ref: ModelRef) -> WordPieceTokenizer | str:
    path = ref.path / "tokenizer.json"
    if not path.is_file():
        return "no tokenizer.json"
    cfg: dict = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):  # the latter wins
        file = ref.path / name
        if file.is_file():
            loaded = _read_json(file, "tokenizer config")
            if isinstance(loaded, dict):
                cfg.update(loaded)
    reason = _tokenizer_config_reason(cfg)
    if reason:
        return reason
    from tokenizers import Tokenizer, normalizers, pre_tokenizers

    try:
        backend = Tokenizer.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - the Rust side raises plain Exception
        return f"tokenizer.json unreadable by tokenizers ({str(exc).splitlines()[0]})"
    reason = _tokenizer_reason(backend, cfg)
    if reason:
        return reason
    # as transformers builds a BertTokenizer: the options from tokenizer_config.json
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=cfg.get("tokenize_chinese_chars", True),
        strip_accents=cfg.get("strip_accents"),
        lowercase=cfg.get("do_lower_case", True),
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.no_truncation()
    backend.no_padding()
    if transformer_settings(ref).get("do_lower_case"):
        prepend_lowercase(backend)
    ids = {k: backend.token_to_id(_token(cfg.get(k)) or d) for k, d in _SPECIAL_DEFAULTS.items()}
    missing = [k for k in ("cls_token", "sep_token", "pad_token") if ids[k] is None]
    if missing:
        return f"the vocabulary lacks the {missing[0]}"
    limit = cfg.get("model_max_length")
    logger.debug("tokenizer of %s read from tokenizer.json by tokenizers", ref.name)
    return WordPieceTokenizer(
        backend,
        cls_token_id=ids["cls_token"],
        sep_token_id=ids["sep_token"],
        pad_token_id=ids["pad_token"],
        model_max_length=limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
    )


def _tokenizer_config_reason(cfg: dict) -> str | None:
    if cfg.get("tokenizer_class") not in _TOKENIZER_CLASSES:
        return f"tokenizer_class {cfg.get('tokenizer_class')!r}"
    for key, allowed in (("do_lower_case", (True, False)), ("strip_accents", (None, True, False)),
                         ("tokenize_chinese_chars", (True, False)),
                         ("do_basic_tokenize", (True,)), ("never_split", (None, [])),
                         ("split_special_tokens", (False,))):  # fmt: skip
        if key in cfg and cfg[key] not in allowed:
            return f"tokenizer_config.json sets {key}={cfg[key]!r}"
    return None


def _tokenizer_reason(backend: Any, cfg: dict) -> str | None:
    """What in ``tokenizer.json`` transformers would not read as the own path does.

    transformers (5.x) rebuilds a BertTokenizer from the file's vocabulary: a WordPiece with
    its default ``##`` prefix and 100-character words, the BertPreTokenizer, a BertNormalizer
    with clean_text; 4.x kept the file's settings. Where they agree, so does the own path; a
    file that sets anything else is left to transformers.
    """
    from tokenizers import normalizers, pre_tokenizers
    from tokenizers.models import WordPiece

    model = backend.model
    unk = _token(cfg.get("unk_token")) or _SPECIAL_DEFAULTS["unk_token"]
    if not isinstance(model, WordPiece):
        return f"a {type(model).__name__} tokenizer (the own path reads WordPiece)"
    if model.continuing_subword_prefix != "##" or model.max_input_chars_per_word != 100:
        return "a WordPiece with a non-default prefix or word length"
    if model.unk_token != unk:
        return f"tokenizer.json's unknown token {model.unk_token!r} is not {unk!r}"
    if not isinstance(backend.normalizer, normalizers.BertNormalizer) or not (
        backend.normalizer.clean_text
    ):
        return "tokenizer.json's normalizer is not a BertNormalizer with clean_text"
    if not isinstance(backend.pre_tokenizer, pre_tokenizers.BertPreTokenizer):
        return "tokenizer.json's pre-tokenizer is not BertPreTokenizer"
    added = backend.get_added_tokens_decoder()
    vocab = backend.get_vocab_size(with_added_tokens=False)
    if any(i >= vocab or not t.special or t.normalized or t.lstrip or t.rstrip or t.single_word
           for i, t in added.items()):  # fmt: skip
        return "tokenizer.json adds tokens beyond plain special tokens of the vocabulary"
    contents = {t.content for t in added.values()}
    declared = [_token(v) for v in (cfg.get("added_tokens_decoder") or {}).values()]
    for key in ("additional_special_tokens", "extra_special_tokens"):
        extra = cfg.get(key) or []
        declared += [_token(v) for v in (extra.values() if isinstance(extra, dict) else extra)]
    # transformers adds the five special tokens (its defaults where the config names none)
    declared += [_token(cfg.get(k, d)) for k, d in _SPECIAL_DEFAULTS.items() if cfg.get(k, d)]
    if any(t is None or t not in contents for t in declared):
        return "tokenizer_config.json declares tokens tokenizer.json does not add"
    return None
