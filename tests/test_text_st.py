"""SentenceEmbedder through sentence-transformers: a model's own Pooling, Dense and Normalize.

A tiny random BERT (2 layers, 32 wide, MiniLM's tokenizer) is saved as a sentence-transformers
folder with CLS pooling, a Dense projection to 16 and Normalize: exactly what emoclassic's old
mean-of-the-last-layer reading got wrong. Default-layer vectors must equal
``SentenceTransformer(folder).encode``; other layers feed the same remaining modules.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from emoclassic.exceptions import ConfigError
from emoclassic.features import FeatureStore
from emoclassic.text import SentenceEmbedder, default_model_path, model_identity

TEXTS = ["You must've had your hands full.", "Oh my God!", "ok", "That I did. That I did.", "no"]
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)
HIDDEN, OUT = 32, 16


def _save_bert(folder, seed=0):
    """A 2-layer, 32-wide random BertModel with MiniLM's tokenizer, saved with save_pretrained."""
    import torch
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copy(default_model_path() / name, folder / name)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    BertModel(config).eval().save_pretrained(str(folder))
    return folder


def _save_st(folder, bert, *, pooling="cls", dense=True, normalize=True, seed=0):
    """``bert`` as a sentence-transformers folder: Transformer, Pooling, [Dense], [Normalize]."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Dense,
        Normalize,
        Pooling,
        Transformer,
    )

    torch.manual_seed(seed)
    modules = [Transformer(str(bert), max_seq_length=64), Pooling(HIDDEN, pooling_mode=pooling)]
    if dense:
        modules.append(Dense(HIDDEN * (2 if isinstance(pooling, tuple) else 1), OUT))
    if normalize:
        modules.append(Normalize())
    SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    return folder


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return _save_bert(tmp_path_factory.mktemp("tiny_bert_hf") / "bert")


@pytest.fixture(scope="module")
def cls_dense(tmp_path_factory, bert):
    return _save_st(tmp_path_factory.mktemp("tiny_st") / "cls_dense", bert)


def _encode(folder, texts=TEXTS):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu", local_files_only=True).encode(texts)


def _manual(folder, texts, layer):
    """A hidden layer's [CLS] token through the saved Dense and Normalize, by hand."""
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    tok = st[0].tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = st[0].auto_model(**tok, output_hidden_states=True).hidden_states
        pooled = hidden[layer][:, 0]
        dense = torch.tanh(st[2].linear(pooled))
        return torch.nn.functional.normalize(dense, dim=1).numpy()


# -- the model's own definition ---------------------------------------------------------------
def test_cls_dense_normalize_folder_equals_sentence_transformers(cls_dense):
    emb = SentenceEmbedder(cls_dense, missing="error")
    ours = emb.fit_transform(TEXTS)
    ref = _encode(cls_dense)
    assert ours.shape == ref.shape == (len(TEXTS), OUT) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    assert len(emb.get_feature_names_out()) == OUT
    assert len(SentenceEmbedder(cls_dense).get_feature_names_out()) == OUT + 1  # text_missing
    ident = emb.model_identity()
    assert ident["modules"] == ["Transformer", "Pooling(cls)", "Dense(32->16)", "Normalize"]
    assert ident["path"] == str(cls_dense.resolve())
    # the old reading (mean over the last layer, no Dense) is not what this model defines
    assert not np.allclose(ours[:, :HIDDEN], 0) and ours.shape[1] != HIDDEN


def test_folder_without_normalize_is_not_normalised(bert, tmp_path):
    folder = _save_st(tmp_path / "cls_dense_raw", bert, normalize=False)
    ours = SentenceEmbedder(folder, missing="error").transform(TEXTS)
    np.testing.assert_allclose(ours, _encode(folder), atol=1e-6)
    assert not np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-3)
    unit = SentenceEmbedder(folder, normalize=True, missing="error").transform(TEXTS)
    np.testing.assert_allclose(unit, ours / np.linalg.norm(ours, axis=1, keepdims=True), atol=1e-6)


def test_normalize_false_drops_the_models_final_normalize(cls_dense, bert, tmp_path):
    raw = SentenceEmbedder(cls_dense, normalize=False, missing="error").transform(TEXTS)
    twin = _save_st(tmp_path / "twin", bert, normalize=False)  # same seed: same Dense weights
    np.testing.assert_allclose(raw, _encode(twin), atol=1e-6)


def test_pooling_override_replaces_only_the_pooling_module(cls_dense, bert, tmp_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    mean = SentenceEmbedder(cls_dense, pooling="mean", missing="error").transform(TEXTS)
    st = SentenceTransformer(str(cls_dense), device="cpu", local_files_only=True)
    swapped = SentenceTransformer(modules=[st[0], Pooling(HIDDEN, "mean"), st[2], st[3]])
    np.testing.assert_allclose(mean, swapped.encode(TEXTS), atol=1e-6)
    assert mean.shape[1] == OUT  # the Dense still runs
    own = SentenceEmbedder(cls_dense, missing="error")
    same = SentenceEmbedder(cls_dense, pooling="cls", missing="error")
    np.testing.assert_array_equal(own.transform(TEXTS), same.transform(TEXTS))
    assert own._config() == same._config()  # the model's own mode: the same cache entries
    unit = SentenceEmbedder(cls_dense, normalize=np.True_, missing="error")  # already has one
    assert unit._config() == own._config()
    # several pooling modes feeding a Dense: replacing them would break the Dense's input width
    multi = _save_st(tmp_path / "multi", bert, pooling=("cls", "mean"))
    np.testing.assert_allclose(
        SentenceEmbedder(multi, missing="error").transform(TEXTS), _encode(multi), atol=1e-6
    )
    with pytest.raises(ConfigError, match="pooled width"):
        SentenceEmbedder(multi, pooling="mean").fit(TEXTS)


@pytest.mark.parametrize("bad", [{"pooling": "max"}, {"normalize": "yes"}])
def test_invalid_pooling_or_normalize_is_a_config_error(cls_dense, bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        SentenceEmbedder(cls_dense, **bad).fit(TEXTS)


# -- layers ----------------------------------------------------------------------------------
def test_other_layers_feed_the_models_own_remaining_modules(cls_dense):
    for layer in (0, 1):
        ours = SentenceEmbedder(cls_dense, layer=layer, missing="error").transform(TEXTS)
        np.testing.assert_allclose(ours, _manual(cls_dense, TEXTS, layer), atol=1e-5)
    default = SentenceEmbedder(cls_dense, missing="error").transform(TEXTS)
    for same in (2, -1):  # 2 layers -> hidden states 0..2: index 2 is the last
        alias = SentenceEmbedder(cls_dense, layer=same, missing="error").transform(TEXTS)
        np.testing.assert_allclose(alias, default, atol=1e-6)
    np.testing.assert_allclose(default, _manual(cls_dense, TEXTS, -1), atol=1e-5)
    mix = SentenceEmbedder(cls_dense, layer="last4_mean", missing="error").transform(TEXTS)
    assert mix.shape == (len(TEXTS), OUT) and not np.allclose(mix, default, atol=1e-4)
    with pytest.raises(ConfigError, match="out of range"):
        SentenceEmbedder(cls_dense, layer=3).fit(TEXTS)


# -- plain Hugging Face folders ----------------------------------------------------------------
def test_plain_hf_folder_is_mean_pooled_and_normalised(bert):
    ours = SentenceEmbedder(bert, missing="error").transform(TEXTS)
    # sentence-transformers reads a folder without modules.json as Transformer + mean Pooling
    ref = _encode(bert)
    np.testing.assert_allclose(ours, ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-6)
    raw = SentenceEmbedder(bert, normalize=False, missing="error").transform(TEXTS)
    np.testing.assert_allclose(raw, ref, atol=1e-6)
    cls = SentenceEmbedder(bert, pooling="cls", missing="error").transform(TEXTS)
    assert ours.shape == cls.shape == (len(TEXTS), HIDDEN) and not np.allclose(ours, cls)
    assert model_identity(bert)["modules"] == ["Transformer", "Pooling(mean)", "Normalize"]


# -- MiniLM ------------------------------------------------------------------------------------
def test_minilm_default_and_pooling_override_match_sentence_transformers():
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    folder = default_model_path()
    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    ours = SentenceEmbedder(missing="error").transform(TEXTS)
    np.testing.assert_allclose(ours, st.encode(TEXTS), atol=1e-6)
    explicit = SentenceEmbedder(pooling="mean", normalize=True, missing="error")
    assert explicit._config() == SentenceEmbedder(missing="error")._config()
    # MiniLM's Pooling config uses the legacy pooling_mode_*_tokens flags
    assert explicit.model_identity()["modules"] == ["Transformer", "Pooling(mean)", "Normalize"]
    cls = SentenceEmbedder(pooling="cls", missing="error").transform(TEXTS)
    cls_st = SentenceTransformer(modules=[st[0], Pooling(384, "cls"), Normalize()])
    np.testing.assert_allclose(cls, cls_st.encode(TEXTS), atol=1e-6)
    raw = SentenceEmbedder(normalize=False, missing="error").transform(TEXTS)
    np.testing.assert_allclose(raw, SentenceTransformer(modules=[st[0], st[1]]).encode(TEXTS),
                               atol=1e-5)  # fmt: skip


# -- context, caching, precision -------------------------------------------------------------
def _dialogue() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["u0", "u1", "u2", "u3"],
            "dialogue_id": ["d"] * 4,
            "utterance_index": [0, 1, 2, 3],
            "text": ["Hello there.", "Oh my God!", "What happened?", "ok"],
        }
    )


def test_dialogue_context_with_a_sentence_transformers_model(cls_dense, bert, tmp_path):
    df = _dialogue()
    alone = SentenceEmbedder(cls_dense, missing="error").transform(df)
    past = SentenceEmbedder(cls_dense, context_past=1, missing="error").transform(df)
    np.testing.assert_allclose(past[0], alone[0], atol=1e-6)  # nothing before u0
    assert not np.allclose(past[1:], alone[1:], atol=1e-4)  # context reaches the [CLS] token
    # CLS pooling reads no span: target and window give the same vectors and cache entries
    window = SentenceEmbedder(cls_dense, context_past=1, pool_span="window", missing="error")
    np.testing.assert_allclose(window.transform(df), past, atol=1e-6)
    emb = SentenceEmbedder(cls_dense, context_past=1)
    assert all("target" not in it.key_parts for it in emb._items(df))
    # a mean-pooled model does read the span
    mean = _save_st(tmp_path / "mean", bert, pooling="mean", dense=False)
    t = SentenceEmbedder(mean, context_past=1, missing="error").transform(df)
    w = SentenceEmbedder(mean, context_past=1, pool_span="window", missing="error").transform(df)
    assert not np.allclose(t[1:], w[1:], atol=1e-4)


def test_cache_key_follows_the_module_definition(cls_dense, bert, tmp_path):
    """A changed Pooling config, Dense or model never reuses another definition's vectors."""
    store = FeatureStore(tmp_path / "cache")
    first = SentenceEmbedder(cls_dense, cache=store, missing="error").transform(TEXTS)
    edited = tmp_path / "edited"
    shutil.copytree(cls_dense, edited)
    cfg_file = edited / "1_Pooling" / "config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["pooling_mode"] = "mean"
    cfg_file.write_text(json.dumps(cfg))
    ident_a, ident_b = model_identity(cls_dense), model_identity(edited)
    assert ident_a["sha256"] != ident_b["sha256"]
    assert ident_b["modules"][1] == "Pooling(mean)"
    a = SentenceEmbedder(cls_dense, cache=store)._config()
    b = SentenceEmbedder(edited, cache=store)._config()
    assert a != b and a["model_identity"] != b["model_identity"]
    hits = store.hits
    second = SentenceEmbedder(edited, cache=store, missing="error").transform(TEXTS)
    assert store.hits == hits  # nothing served from the CLS model's entries
    np.testing.assert_allclose(second, _encode(edited), atol=1e-6)
    assert not np.allclose(first, second, atol=1e-4)
    # other Dense weights (another seed), same configs: other identity, other entries
    reseeded = _save_st(tmp_path / "reseeded", bert, seed=1)
    assert model_identity(reseeded)["sha256"] != ident_a["sha256"]
    third = SentenceEmbedder(reseeded, cache=store, missing="error").transform(TEXTS)
    assert store.hits == hits and not np.allclose(first, third, atol=1e-4)
    # a plain folder with other weights and the same parameters: other entries too
    other = _save_bert(tmp_path / "other_bert", seed=1)
    x = SentenceEmbedder(bert, cache=store, missing="error").transform(TEXTS)
    y = SentenceEmbedder(other, cache=store, missing="error").transform(TEXTS)
    assert not np.allclose(x, y, atol=1e-4)
    # and the same definition is served from the store
    again = SentenceEmbedder(cls_dense, cache=store, missing="error").transform(TEXTS)
    np.testing.assert_array_equal(again, first)


def test_bfloat16_runs_the_transformer_only_in_bfloat16(cls_dense):
    full = SentenceEmbedder(cls_dense, missing="error").transform(TEXTS)
    half = SentenceEmbedder(cls_dense, dtype="bfloat16", missing="error").transform(TEXTS)
    assert half.dtype == np.float32 and half.shape == full.shape
    assert not np.array_equal(full, half)
    assert (full * half).sum(axis=1).min() > 0.99  # unit vectors: cosine similarity


def test_pickle_stays_small_and_import_stays_light(cls_dense):
    emb = SentenceEmbedder(cls_dense)
    emb.transform(TEXTS[:2])
    assert len(pickle.dumps(emb)) < 20_000
    code = (
        "import sys, emoclassic; from emoclassic.text import SentenceEmbedder; "
        "SentenceEmbedder().get_feature_names_out(); "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_identity_follows_a_folder_edited_in_place(cls_dense, tmp_path):
    """The identity and module chain are remembered per process, checked by the files' size
    and modification time: an edit in place (same folder) is seen at once."""
    import os

    folder = tmp_path / "in_place"
    shutil.copytree(cls_dense, folder)
    before = model_identity(folder)
    assert model_identity(folder) == before  # remembered
    cfg_file = folder / "1_Pooling" / "config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["pooling_mode"] = "mean"
    cfg_file.write_text(json.dumps(cfg))
    st = cfg_file.stat()
    os.utime(cfg_file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # whatever the clock
    after = model_identity(folder)
    assert after["sha256"] != before["sha256"] and after["modules"][1] == "Pooling(mean)"
    after["modules"].append("changed by the caller")
    assert model_identity(folder)["modules"][-1] != "changed by the caller"  # a copy
