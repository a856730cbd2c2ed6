"""emoclassic's own BERT encoder: the forward pass of a BertModel in a few dozen lines of torch.

Why hand-written instead of ``transformers.BertModel`` through sentence-transformers: start-up.
A cold ``emoclassic predict`` with a fused model imported sentence-transformers, which imports
transformers' modelling utilities and with them ``torch.distributed.tensor``, ``torch._dynamo``,
sympy and more; this module needs torch, ``safetensors`` and the ``tokenizers`` library only.
Measured on the development machine (two shared cores at a load average of 11: the ratios carry
over, the absolute figures are several times their idle values), fresh interpreters, medians of
five: ``import torch`` 5.0 s; ``import torch, tokenizers, safetensors.torch`` (this path)
5.1 s; ``from transformers import BertModel, AutoTokenizer`` 13.8 s; ``from
sentence_transformers import SentenceTransformer`` 19.6 s. A cold fused ``emoclassic predict``
(recommended-fusion, one clip, one thread), the two paths interleaved, medians of eight: 19.6 s
through sentence-transformers, 10.0 s here (docs/benchmarks.md, "Latency for live use").

What runs is BertModel's inference forward, in the same order of operations: word + token type
(0) + absolute position embeddings, LayerNorm; per layer self-attention
(``torch.nn.functional.scaled_dot_product_attention``, padded keys masked), output projection,
residual and LayerNorm, the intermediate projection with the config's activation (exact erf
GELU for "gelu"), the output projection, residual and LayerNorm. Query, key and value are one
Linear (their three weight matrices stacked), one matrix product instead of three. Dropout is
the identity at inference, and the pooler is never read (the sentence vector comes from the
token embeddings), so neither is built. ``dtype="int8"`` quantises these Linears as the library
path quantised BertModel's (:func:`~emoclassic.text._models.quantize_int8`), ``"bfloat16"``
casts the whole encoder as it cast the Transformer module.

Which folders run here and which fall back to sentence-transformers: :mod:`._native`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..exceptions import ConfigError
from ._native import BertSettings, expected_weights

__all__ = ["BertEncoder", "load_bert"]


def _activation(name: str):
    if name == "gelu":
        return F.gelu  # exact (erf), as transformers' "gelu"
    if name == "gelu_pytorch_tanh":
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "gelu_new":  # transformers' NewGELUActivation, written out as it is there
        c = math.sqrt(2.0 / math.pi)
        return lambda x: 0.5 * x * (1.0 + torch.tanh(c * (x + 0.044715 * torch.pow(x, 3.0))))
    if name == "relu":
        return F.relu
    raise ConfigError(f"hidden_act={name!r} is not one the own BERT encoder computes")


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    """An ``nn.Linear`` holding the checkpoint's tensors (an ``nn.Linear``, so that
    :func:`quantize_int8` finds it), built at size 1: its constructor's random initialisation
    of a full-size matrix costs a tenth of a second for MiniLM, on a meta device it imports
    ``torch._dynamo`` (seconds)."""
    layer = nn.Linear(1, 1)
    layer.out_features, layer.in_features = weight.shape
    layer.weight, layer.bias = nn.Parameter(weight, False), nn.Parameter(bias, False)
    return layer


def _embedding(weight: torch.Tensor) -> nn.Embedding:
    """An ``nn.Embedding`` holding ``weight``, built as :func:`_linear` is."""
    table = nn.Embedding(1, 1)
    table.num_embeddings, table.embedding_dim = weight.shape
    table.weight = nn.Parameter(weight, False)
    return table


def _layer_norm(weight: torch.Tensor, bias: torch.Tensor, eps: float) -> nn.LayerNorm:
    norm = nn.LayerNorm(weight.shape[0], eps=eps)
    norm.weight, norm.bias = nn.Parameter(weight, False), nn.Parameter(bias, False)
    return norm


class _Layer(nn.Module):
    def __init__(self, s: BertSettings, w: dict[str, torch.Tensor], at: str):
        super().__init__()
        self.heads = s.num_heads
        self.qkv = _linear(
            *(torch.cat([w[f"{at}attention.self.{m}.{part}"] for m in ("query", "key", "value")])
              for part in ("weight", "bias"))
        )  # fmt: skip
        self.attention_out = _linear(*_pair(w, f"{at}attention.output.dense"))
        self.attention_norm = _layer_norm(
            *_pair(w, f"{at}attention.output.LayerNorm"), s.layer_norm_eps
        )
        self.intermediate = _linear(*_pair(w, f"{at}intermediate.dense"))
        self.output = _linear(*_pair(w, f"{at}output.dense"))
        self.output_norm = _layer_norm(*_pair(w, f"{at}output.LayerNorm"), s.layer_norm_eps)
        self.act = _activation(s.hidden_act)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, h = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        a = a.transpose(1, 2).reshape(b, n, h)
        x = self.attention_norm(self.attention_out(a) + x)
        return self.output_norm(self.output(self.act(self.intermediate(x))) + x)


def _pair(w: dict[str, torch.Tensor], name: str) -> tuple[torch.Tensor, torch.Tensor]:
    return w[f"{name}.weight"], w[f"{name}.bias"]


class BertEncoder(nn.Module):
    """A BertModel's embeddings and encoder layers, for inference; see the module docstring.

    Built from the checkpoint's tensors ``w`` (names as :func:`._native.expected_weights`
    gives them). ``forward(input_ids, attention_mask, layers)`` returns the hidden states whose
    indices are in ``layers`` (0 = the embeddings' output, ``num_layers`` = the last),
    computing only the layers up to the highest asked for.
    """

    def __init__(self, s: BertSettings, w: dict[str, torch.Tensor]):
        super().__init__()
        at = f"{s.prefix}embeddings."
        self.word_embeddings = _embedding(w[f"{at}word_embeddings.weight"])
        self.position_embeddings = _embedding(w[f"{at}position_embeddings.weight"])
        self.token_type_embeddings = _embedding(w[f"{at}token_type_embeddings.weight"])
        self.embedding_norm = _layer_norm(*_pair(w, f"{at}LayerNorm"), s.layer_norm_eps)
        self.layers = nn.ModuleList(
            _Layer(s, w, f"{s.prefix}encoder.layer.{i}.") for i in range(s.num_layers)
        )

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, layers: Sequence[int]
    ) -> list[torch.Tensor]:
        wanted = sorted(set(layers))
        n = input_ids.shape[1]
        # BertEmbeddings' order: (word + token type 0) + position
        x = self.word_embeddings(input_ids) + self.token_type_embeddings.weight[0]
        x = self.embedding_norm(x + self.position_embeddings.weight[:n])
        # keys that are padding are masked; no mask at all when there is none (as transformers)
        mask = None
        if not bool(attention_mask.all()):
            mask = attention_mask.bool()[:, None, None, :]
        states = {0: x} if 0 in wanted else {}
        for i, layer in enumerate(self.layers[: wanted[-1]], start=1):
            x = layer(x, mask)
            if i in wanted:
                states[i] = x
        return [states[i] for i in layers]


def _checkpoint(s: BertSettings) -> dict[str, torch.Tensor]:
    """The tensors of ``expected_weights(s)`` from the checkpoint, read as stored."""
    names = expected_weights(s)
    try:
        if s.weights.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(s.weights), framework="pt") as fh:
                return {name: fh.get_tensor(name) for name in names}
        state = torch.load(s.weights, map_location="cpu", weights_only=True, mmap=True)
        return {name: state[name] for name in names}
    except (OSError, KeyError, RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"{s.weights}: cannot read the BERT weights ({str(exc).splitlines()[0]}); save "
            "the model again with save_pretrained"
        ) from exc


def load_bert(s: BertSettings) -> BertEncoder:
    """The encoder with the checkpoint's weights, float32 on the CPU, in eval mode."""
    return BertEncoder(s, _checkpoint(s)).eval()
