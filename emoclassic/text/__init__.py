"""Text features: frozen transformer sentence vectors, dialogue context, TF-IDF baseline.

``SentenceEmbedder`` (stateless, cached) reads a chosen hidden layer of a local BERT-family
model through the model's own sentence-transformers modules (Pooling, Dense, Normalize), on
emoclassic's own BERT encoder where the model allows it (``_bert``, ``_native``, ``_pooling``);
``build_context_texts`` shows what each utterance is read with; ``TfidfText`` is the classic
n-gram baseline (it learns a vocabulary in ``fit``). Torch, tokenizers (and, for the models the
own encoder does not run, transformers and sentence-transformers) load only when vectors are
computed.
"""

from ._context import ContextWindow, build_context_texts, context_windows
from ._embedder import SentenceEmbedder
from ._models import DEFAULT_MODEL_NAME, default_model_path, model_identity, resolve_model
from ._tfidf import TfidfText

__all__ = [
    "DEFAULT_MODEL_NAME",
    "ContextWindow",
    "SentenceEmbedder",
    "TfidfText",
    "build_context_texts",
    "context_windows",
    "default_model_path",
    "model_identity",
    "resolve_model",
]
