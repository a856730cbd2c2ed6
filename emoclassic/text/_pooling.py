"""Token embeddings to one sentence vector: Pooling (cls, max, mean) and Normalize.

The one pooling emoclassic runs, for its own BERT encoder and for sentence-transformers models
alike (a model's own Pooling module with these modes, or one ``pooling=...`` puts in), so both
paths pool with the same code. The formulas are sentence-transformers' (``Pooling`` and
``Normalize`` modules, version 5-6) so that the vectors equal ``SentenceTransformer.encode``'s:
cls = the first token the mask keeps, max = the maximum over kept tokens, mean = the sum over
kept tokens divided by their count (at least 1e-9), several modes concatenated in the order
given. Like those modules, they read and write a features dict (``token_embeddings``,
``attention_mask`` -> ``sentence_embedding``), so a model's other modules (Dense, ...) chain
after them on the sentence-transformers path.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._native import POOLING_MODES

__all__ = ["Normalize", "Pooling"]


class Pooling(nn.Module):
    """Pool ``features["token_embeddings"]`` over ``features["attention_mask"]``."""

    def __init__(self, modes: list[str] | tuple[str, ...]):
        super().__init__()
        unknown = [m for m in modes if m not in POOLING_MODES]
        if unknown or not modes:
            raise ValueError(f"pooling modes {list(modes)}: use some of {POOLING_MODES}")
        self.modes = tuple(modes)

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        tokens = features["token_embeddings"]
        mask = features["attention_mask"]
        half = tokens.dtype in (torch.float16, torch.bfloat16)
        acc = torch.float32 if half else tokens.dtype  # what the sums accumulate in
        out = []
        for mode in self.modes:
            if mode == "cls":
                first = mask.to(torch.int).argmax(dim=1)
                index = first[:, None, None].expand(-1, 1, tokens.shape[-1])
                out.append(torch.gather(tokens, 1, index).squeeze(1))
            elif mode == "max":
                keep = mask.unsqueeze(-1).expand_as(tokens).to(tokens.dtype)
                out.append(tokens.masked_fill(keep == 0, float("-inf")).max(dim=1).values)
            else:  # mean
                keep = mask.unsqueeze(-1).to(tokens.dtype)
                total = (tokens * keep).sum(dim=1, dtype=acc)
                count = torch.clamp(keep.sum(dim=1, dtype=acc), min=1e-9)
                out.append((total / count).to(tokens.dtype))
        features["sentence_embedding"] = torch.cat(out, dim=-1)
        return features


class Normalize(nn.Module):
    """L2-normalise ``features["sentence_embedding"]``."""

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        features["sentence_embedding"] = F.normalize(features["sentence_embedding"], p=2, dim=-1)
        return features
