"""SentenceEmbedder(dtype="int8"): the shipped MiniLM with int8 dynamically quantised Linears.

Vectors keep the float32 shape and stay close to float32 (not equal), have cache entries of
their own, never travel in a pickle, and the option is reachable from a spec. The float32 and
int8 models load once for the module (a few seconds each).
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from emoclassic.exceptions import ConfigError
from emoclassic.features import FeatureStore
from emoclassic.features._store import key_prefix
from emoclassic.text import SentenceEmbedder

TEXTS = ["You must've had your hands full.", "Oh my God!", "ok", "That I did. That I did.", "no"]


@pytest.fixture(scope="module")
def vectors():
    full = SentenceEmbedder(missing="error").transform(TEXTS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # torch's are silenced at load
        int8 = SentenceEmbedder(dtype="int8", missing="error").transform(TEXTS)
    return full, int8


def test_int8_vectors_are_close_to_float32_but_not_equal(vectors):
    full, int8 = vectors
    assert int8.shape == full.shape == (len(TEXTS), 384) and int8.dtype == np.float32
    assert not np.allclose(full, int8, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)  # Normalize ran
    cosine = (full * int8).sum(axis=1)  # unit vectors
    # measured 0.88-0.96 on these (0.96 median over 300 MELD utterances): int8 is an
    # approximation, not a rounding of the 3rd digit as bfloat16 is
    assert cosine.min() > 0.8 and cosine.mean() > 0.88


def test_int8_quantises_the_transformer_linears_only_on_the_library_path():
    """The sentence-transformers path (the fallback; the own encoder's: test_text_own.py)."""
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    from emoclassic.text._models import SENTENCE_TRANSFORMERS, load_sentence_model, resolve_model

    ref = resolve_model(None)
    _, model = load_sentence_model(ref, "cpu", "int8", SENTENCE_TRANSFORMERS)
    linears = [m for m in model[0].auto_model.modules() if isinstance(m, torch.nn.Linear)]
    quantised = [m for m in model[0].auto_model.modules() if isinstance(m, DynamicLinear)]
    assert not linears and len(quantised) == 6 * 6 + 1  # 6 per layer, and the pooler
    assert {m.weight().qscheme() for m in quantised} == {torch.per_channel_affine}
    _, full = load_sentence_model(ref, "cpu", "float32", SENTENCE_TRANSFORMERS)
    assert full is not model  # a model of its own: the float32 one is untouched
    assert not any(isinstance(m, DynamicLinear) for m in full[0].auto_model.modules())


def test_int8_has_its_own_cache_entries(vectors, tmp_path):
    full, int8 = vectors
    a, b = SentenceEmbedder(), SentenceEmbedder(dtype="int8")
    assert a._config()["dtype"] == "float32" and b._config()["dtype"] == "int8"
    assert key_prefix(a._config()) != key_prefix(b._config())
    store = FeatureStore(tmp_path / "store")
    first = SentenceEmbedder(cache=store, missing="error").transform(TEXTS)
    second = SentenceEmbedder(dtype="int8", cache=store, missing="error").transform(TEXTS)
    np.testing.assert_allclose(first, full, atol=1e-6)
    assert not np.allclose(second, first, atol=1e-3)  # computed, not the float32 entries
    np.testing.assert_allclose(second, int8, atol=1e-6)


def test_int8_embedder_pickles_without_the_model(vectors):
    emb = SentenceEmbedder(dtype="int8", missing="error")
    emb.transform(TEXTS[:1])
    blob = pickle.dumps(emb)
    assert len(blob) < 10_000  # parameters only, no weights
    again = pickle.loads(blob)
    assert again.get_params() == emb.get_params()
    np.testing.assert_allclose(again.transform(TEXTS), vectors[1], atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (
            {"dtype": "int4"},
            r"dtype='int4' is not valid; use one of \('float32', 'bfloat16', 'int8'\)",
        ),
        ({"dtype": "qint8"}, "float32.*bfloat16.*int8"),
        ({"dtype": "int8", "device": "cuda"}, "int8.*CPU only"),
        ({"dtype": "int8", "device": "cuda:0"}, "int8.*CPU only"),
    ],
)
def test_bad_dtype_is_one_config_error(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        SentenceEmbedder(**kwargs).fit(TEXTS)
    assert "\n" not in str(info.value)


def test_a_spec_block_takes_dtype_int8(tmp_path):
    from emoclassic.fusion import build_pipeline
    from emoclassic.spec import load_spec

    path = tmp_path / "int8.toml"
    path.write_text(
        'name = "int8"\ndescription = "MiniLM int8"\n\n'
        '[features.minilm]\ntype = "text"\ndtype = "int8"\n\n'
        '[classifier]\nname = "logreg"\n',
        encoding="utf-8",
    )
    spec = load_spec(path)
    assert spec.features["minilm"].options["dtype"] == "int8"
    found = [v for v in build_pipeline(spec).get_params().values()
             if isinstance(v, SentenceEmbedder)]  # fmt: skip
    assert found and all(e.dtype == "int8" for e in found)
