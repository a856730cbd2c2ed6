"""Text branch: sentence embedder (tiny local BERT + shipped MiniLM), context, TF-IDF."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import (
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from emoclassic.exceptions import ConfigError, DataError
from emoclassic.features import FeatureStore
from emoclassic.text import (
    SentenceEmbedder,
    TfidfText,
    build_context_texts,
    context_windows,
    default_model_path,
    model_identity,
)
from emoclassic.text._embedder import assemble_input_ids

WORDS = ["hello", "world", "the", "cat", "dog", "happy", "sad", "angry", "no", "yes", "oh", "my"]


def _save_tiny_bert(folder, seed=0):
    """A 3-layer, 32-wide BERT with a ~70-token WordPiece vocab, saved like a real model."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters]
    vocab += ["##" + c for c in letters] + [".", ",", "!", "?", ":", *WORDS]
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizer(str(vocab_file)).save_pretrained(str(folder))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    BertModel(config).eval().save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def _dialogues() -> pd.DataFrame:
    """Two dialogues, rows shuffled, plus one row without a dialogue."""
    rows = [
        ("a0", "d1", 0, "Ann", "hello world"),
        ("a1", "d1", 1, "Bob", "the cat"),
        ("a2", "d1", 2, "Ann", "oh my dog"),
        ("a3", "d1", 3, "Bob", "yes"),
        ("b0", "d2", 0, "Cid", "sad"),
        ("b1", "d2", 1, "Dee", "angry"),
        ("x", None, None, "Eve", "happy"),
    ]
    df = pd.DataFrame(rows, columns=["id", "dialogue_id", "utterance_index", "speaker", "text"])
    df = df.iloc[[3, 5, 0, 6, 2, 4, 1]].reset_index(drop=True)
    return df.astype({"id": "string", "dialogue_id": "string", "speaker": "string"})


def _by_id(df, values):
    return dict(zip(df["id"], values, strict=True))


# -- model resolution and loading ------------------------------------------------------------
def test_local_folder_loads_offline_and_has_an_identity(tiny, tmp_path):
    emb = SentenceEmbedder(tiny)
    out = emb.fit_transform(["hello world", "the cat", "oh my dog!"])
    assert out.shape == (3, 33) and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    ident = emb.model_identity()
    assert ident["name"] == tiny.name and ident["path"] == str(tiny.resolve())
    assert len(ident["sha256"]) == 64
    other = model_identity(_save_tiny_bert(tmp_path / "other", seed=1))
    assert other["sha256"] != ident["sha256"]  # different weights, different identity


def test_sentence_transformers_folder_layout_is_resolved(tiny, tmp_path):
    import shutil

    root = tmp_path / "st"
    shutil.copytree(tiny, root / "0_Transformer")
    (root / "modules.json").write_text(
        '[{"idx": 0, "name": "0", "path": "0_Transformer", '
        '"type": "sentence_transformers.models.Transformer"}]'
    )
    # a Transformer-only folder defines no sentence vector: the pooling must be chosen
    with pytest.raises(ConfigError, match="no Pooling module"):
        SentenceEmbedder(root).fit(["hello world"])
    a = SentenceEmbedder(root, pooling="mean", normalize=True).transform(["hello world"])
    b = SentenceEmbedder(tiny).transform(["hello world"])  # plain folder: mean + L2
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("name", ["bert-base-uncased", "sentence-transformers/all-mpnet-base-v2"])
def test_unknown_model_name_is_a_config_error(name):
    with pytest.raises(ConfigError, match="never downloads"):
        SentenceEmbedder(name).fit(["hello"])


def test_folder_without_config_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config.json"):
        SentenceEmbedder(tmp_path).transform(["hello"])


# -- layers and pooling ----------------------------------------------------------------------
def test_layer_choice_changes_the_vectors(tiny):
    texts = ["hello world", "the sad cat"]
    out = {
        layer: SentenceEmbedder(tiny, layer=layer, missing="error").transform(texts)
        for layer in ["last", "second_to_last", "last4_mean", 0, 1, -1, -2]
    }
    np.testing.assert_allclose(out["last"], out[-1], atol=1e-6)
    np.testing.assert_allclose(out["second_to_last"], out[-2], atol=1e-6)
    for a, b in [("last", "second_to_last"), ("last", "last4_mean"), ("last", 0), (0, 1)]:
        assert not np.allclose(out[a], out[b], atol=1e-4), (a, b)
    # 3 layers -> 4 hidden states: index 4 does not exist
    with pytest.raises(ConfigError, match="out of range"):
        SentenceEmbedder(tiny, layer=4).fit(texts)
    with pytest.raises(ConfigError, match="layer"):
        SentenceEmbedder(tiny, layer="first").fit(texts)


def test_cls_and_mean_pooling_differ_and_normalize_gives_unit_vectors(tiny):
    texts = ["hello world", "the angry dog"]
    mean = SentenceEmbedder(tiny, missing="error").transform(texts)
    cls = SentenceEmbedder(tiny, pooling="cls", missing="error").transform(texts)
    raw = SentenceEmbedder(tiny, normalize=False, missing="error").transform(texts)
    assert not np.allclose(mean, cls, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(mean, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), mean, atol=1e-5)
    with pytest.raises(ConfigError, match="pooling"):
        SentenceEmbedder(tiny, pooling="max").fit(texts)


def test_bfloat16_is_close_to_float32(tiny):
    texts = ["hello world", "the angry dog"]
    full = SentenceEmbedder(tiny, missing="error").transform(texts)
    half = SentenceEmbedder(tiny, dtype="bfloat16", missing="error").transform(texts)
    assert half.dtype == np.float32 and not np.array_equal(full, half)
    assert (full * half).sum(axis=1).min() > 0.99  # unit vectors: cosine similarity
    with pytest.raises(ConfigError, match="dtype"):
        SentenceEmbedder(tiny, dtype="float16").fit(texts)


def test_minilm_matches_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    texts = ["You must've had your hands full.", "Oh my God!", "ok", "That I did. That I did."]
    ours = SentenceEmbedder(missing="error").transform(texts)
    ref = SentenceTransformer(str(default_model_path()), device="cpu").encode(texts)
    assert ours.shape == (4, 384)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    assert SentenceEmbedder().model_identity()["name"] == "all-MiniLM-L6-v2"


# -- dialogue context ------------------------------------------------------------------------
def test_context_windows_are_ordered_and_never_cross_dialogues():
    df = _dialogues()
    texts = _by_id(df, build_context_texts(df, past=2, future=1, sep=" | "))
    assert texts["a0"] == "hello world | the cat"
    assert texts["a2"] == "hello world the cat | oh my dog | yes"
    assert texts["a3"] == "the cat oh my dog | yes"  # 2 past, no future left
    assert texts["b0"] == "sad | angry"  # d1's turns never leak into d2
    assert texts["b1"] == "sad | angry"
    assert texts["x"] == "happy"  # no dialogue_id: no context
    plain = _by_id(df, build_context_texts(df))
    assert plain["a2"] == "oh my dog"


def test_speaker_names_appear_only_when_asked():
    df = _dialogues()
    without = build_context_texts(df, past=1)
    assert not any(":" in t for t in without)
    named = _by_id(df, build_context_texts(df, past=1, speaker_names=True, sep=" | "))
    assert named["a1"] == "Ann: hello world | Bob: the cat"
    assert named["x"] == "Eve: happy"


def test_context_skips_missing_turns_and_validates_sizes():
    df = _dialogues()
    df.loc[df["id"] == "a1", "text"] = None
    texts = _by_id(df, build_context_texts(df, past=1, sep=" | "))
    assert texts["a2"] == "oh my dog"  # the missing turn is skipped, not rendered
    with pytest.raises(ConfigError, match="context_past"):
        build_context_texts(df, past=-1)


def test_context_falls_back_to_row_order_without_utterance_index():
    df = pd.DataFrame({"text": ["one", "two", "three"], "dialogue_id": ["d", "d", "d"]})
    _, windows = context_windows(df, past=1)
    assert [w.past for w in windows] == [(), ("one",), ("two",)]


def test_assemble_keeps_the_target_whole_and_drops_far_context():
    past = [[10, 11, 12], [20, 21, 22], [30, 31]]  # chronological: [30, 31] is nearest
    target = [1, 2, 3, 4]
    future = [[40, 41, 42], [50]]
    ids, b, e = assemble_input_ids(past, target, future, start_id=0, sep_id=9, max_length=14)
    assert len(ids) <= 14 and ids[b:e] == target
    assert ids[0] == 0 and ids[-1] == 9
    # nearest past and future kept whole; the next past turn is cut at its far end
    assert ids == [0, 22, 30, 31, 9, 1, 2, 3, 4, 9, 40, 41, 42, 9]
    # a huge context never cuts the target
    ids, b, e = assemble_input_ids(
        [list(range(100))], target, [], start_id=0, sep_id=9, max_length=8
    )
    assert ids[b:e] == target and len(ids) == 8 and ids[1] == 99  # nearest context token kept
    # no room left: no context at all, no dangling separator
    ids, _, _ = assemble_input_ids([[5]], target, [[6]], start_id=0, sep_id=9, max_length=6)
    assert ids == [0, 1, 2, 3, 4, 9]
    # a target longer than the budget is cut (nothing else can be done)
    ids, b, e = assemble_input_ids([], list(range(1, 20)), [], start_id=0, sep_id=9, max_length=8)
    assert len(ids) == 8 and ids[b:e] == list(range(1, 7))


def test_truncated_far_context_does_not_change_the_vector(tiny):
    base = pd.DataFrame(
        {
            "id": ["u0", "u1", "u2"],
            "dialogue_id": ["d"] * 3,
            "utterance_index": [0, 1, 2],
            "text": ["the cat the dog the cat the dog", "happy dog", "oh my"],
        }
    )
    changed = base.assign(text=["sad sad sad sad sad sad sad sad", "happy dog", "oh my"])
    # budget 10: [CLS] + 2 context tokens + [SEP] + "oh my" (2) + [SEP] -> far turn cut away
    emb = SentenceEmbedder(tiny, context_past=2, max_length=6, missing="error")
    a, b = emb.transform(base)[2], emb.transform(changed)[2]
    np.testing.assert_allclose(a, b, atol=1e-6)
    wide = SentenceEmbedder(tiny, context_past=2, max_length=64, missing="error")
    assert not np.allclose(wide.transform(base)[2], wide.transform(changed)[2], atol=1e-4)
    alone = SentenceEmbedder(tiny, missing="error").transform(base)[2]
    assert not np.allclose(alone, a, atol=1e-4)  # context reaches the vector


def test_pool_span_matters_only_with_context(tiny):
    df = _dialogues()
    target = SentenceEmbedder(tiny, context_past=2, missing="error").transform(df)
    window = SentenceEmbedder(tiny, context_past=2, pool_span="window", missing="error")
    window = window.transform(df)
    rows = _by_id(df, range(len(df)))
    assert not np.allclose(target[rows["a2"]], window[rows["a2"]], atol=1e-4)
    for first in ("a0", "b0", "x"):  # nothing before them: the same input, the same vector
        np.testing.assert_allclose(target[rows[first]], window[rows[first]], atol=1e-6)
    plain = SentenceEmbedder(tiny, pool_span="window", missing="error").transform(df)
    np.testing.assert_allclose(
        plain, SentenceEmbedder(tiny, missing="error").transform(df), atol=1e-6
    )
    with pytest.raises(ConfigError, match="pool_span"):
        SentenceEmbedder(tiny, pool_span="all").fit(["a"])


# -- missing text and input forms ------------------------------------------------------------
def test_missing_text_zero_vector_and_indicator(tiny):
    df = pd.DataFrame({"id": ["r1", "r2", "r3", "r4"], "text": ["hello", None, "  ", pd.NA]})
    df["text"] = df["text"].astype("string")
    emb = SentenceEmbedder(tiny)
    out = emb.transform(df)
    names = emb.get_feature_names_out()
    assert names[-1] == "text_missing" and len(names) == out.shape[1] == 33
    assert out[:, -1].tolist() == [0.0, 1.0, 1.0, 1.0]
    assert not out[1:, :-1].any() and out[0, :-1].any()
    all_missing = emb.transform([None, ""])
    assert all_missing.shape == (2, 33) and all_missing[:, -1].tolist() == [1.0, 1.0]


def test_missing_text_error_names_the_row(tiny):
    df = pd.DataFrame({"id": ["r1", "r2"], "text": ["hello", None]})
    emb = SentenceEmbedder(tiny, missing="error")
    with pytest.raises(DataError, match="'r2'"):
        emb.transform(df)
    assert len(emb.get_feature_names_out()) == 32  # no indicator column
    with pytest.raises(ConfigError, match="missing"):
        SentenceEmbedder(tiny, missing="drop").fit(["a"])


def test_input_forms_agree(tiny):
    texts = ["hello world", "the cat"]
    emb = SentenceEmbedder(tiny)
    ref = emb.transform(texts)
    for X in (
        pd.Series(texts, dtype="string"),
        np.array(texts),
        np.array(texts, dtype=object)[:, None],
        pd.DataFrame({"text": texts, "label": ["a", "b"]}),
        pd.DataFrame({"utt": texts}),
    ):
        np.testing.assert_allclose(emb.transform(X), ref, atol=1e-6)
    with pytest.raises(DataError, match="single string"):
        emb.transform("hello")
    with pytest.raises(DataError, match="'text' column"):
        emb.transform(pd.DataFrame({"a": texts, "b": texts}))


# -- scikit-learn contract and caching -------------------------------------------------------
@pytest.mark.parametrize(
    "check",
    [
        check_no_attributes_set_in_init,
        check_parameters_default_constructible,
        check_get_params_invariance,
        check_set_params,
        check_estimator_repr,
    ],
)
@pytest.mark.parametrize("make", [SentenceEmbedder, TfidfText])
def test_sklearn_api_checks(make, check):
    # parametrize_with_checks feeds numeric 2-D arrays, which text transformers do not take
    # (their tags say string input, as for TfidfVectorizer); the data-free checks run here and
    # the fit/transform contract is tested below on text.
    est = make()
    check(type(est).__name__, est)


def test_embedder_is_a_stateless_sklearn_transformer(tiny):
    emb = SentenceEmbedder(tiny, layer=1, context_past=2)
    twin = clone(emb)
    assert twin.get_params() == emb.get_params() and twin is not emb
    assert twin.set_params(layer="last4_mean") is twin and twin.layer == "last4_mean"
    before = dict(vars(emb))
    assert emb.fit(["hello"]) is emb
    assert dict(vars(emb)) == before  # fit learns nothing
    df = _dialogues()
    np.testing.assert_array_equal(emb.transform(df), clone(emb).transform(df))
    blob = pickle.dumps(emb)
    assert len(blob) < 20_000  # the model never travels in a pickle
    np.testing.assert_array_equal(pickle.loads(blob).transform(df), emb.transform(df))


def test_embedder_in_a_column_transformer_pipeline(tiny):
    df = _dialogues()
    y = ["pos", "neg", "pos", "neg", "pos", "neg", "pos"]
    cols = ["id", "text", "speaker", "dialogue_id", "utterance_index"]
    ct = ColumnTransformer([("text", SentenceEmbedder(tiny, context_past=1), cols)])
    pipe = make_pipeline(ct, LogisticRegression()).fit(df, y)
    assert pipe.predict(df).shape == (7,)
    names = ct.get_feature_names_out()
    assert names[0] == "text__emb0" and names[-1] == "text__text_missing"


def test_cache_hit_computes_nothing(tiny, tmp_path, monkeypatch):
    calls = []
    real = SentenceEmbedder._embed_windows

    def counting(self, windows, ref):
        calls.append(len(windows))
        return real(self, windows, ref)

    monkeypatch.setattr(SentenceEmbedder, "_embed_windows", counting)
    store = FeatureStore(tmp_path / "cache")
    df = _dialogues()
    emb = SentenceEmbedder(tiny, context_past=1, cache=store, batch_size=4)
    first = emb.transform(df)
    assert sum(calls) == 7 and len(calls) == 2  # batched: 2 model calls of <= 4 windows
    calls.clear()
    second = emb.transform(df)
    assert calls == [] and store.hits == 7
    np.testing.assert_array_equal(first, second)
    # runtime options share the cache; context and layer do not
    SentenceEmbedder(tiny, context_past=1, cache=store, batch_size=64, n_threads=1).transform(df)
    assert calls == []
    # the key is the exact input window: only a2 and a3 read a different window with past=2
    SentenceEmbedder(tiny, context_past=2, cache=store).transform(df)
    assert sum(calls) == 2
    calls.clear()
    SentenceEmbedder(tiny, context_past=1, layer=0, cache=store).transform(df)
    assert sum(calls) == 7
    calls.clear()  # duplicates are computed once, without a cache too
    out = SentenceEmbedder(tiny).transform(["yeah", "the cat", "yeah", None, "yeah"])
    assert sum(calls) == 2
    np.testing.assert_array_equal(out[0], out[4])
    assert out[3, -1] == 1.0 and out[0, -1] == 0.0


# -- TF-IDF ----------------------------------------------------------------------------------
def test_tfidf_learns_a_vocabulary_and_transforms_sparse():
    train = ["I am so happy!!", "this is sad", "so so happy", "what?!"]
    tf = TfidfText(analyzer="both")
    assert tf.fit(train) is tf
    out = tf.transform(["happy happy", "unseen words", None])
    assert sp.issparse(out) and out.shape == (3, len(tf.get_feature_names_out()))
    names = list(tf.get_feature_names_out())
    assert "w:happy" in names and "w:!!" in names and any(n.startswith("c:") for n in names)
    assert names[-1] == "text_missing"
    dense = out.toarray()
    assert dense[2, -1] == 1.0 and not dense[2, :-1].any()
    assert dense[0, names.index("w:happy")] > 0
    with pytest.raises(NotFittedError):
        TfidfText().transform(train)


def test_tfidf_options_context_and_errors():
    df = _dialogues()
    word = TfidfText(context_past=1, missing="error").fit(df)
    names = list(word.get_feature_names_out())
    assert "text_missing" not in names
    row = word.transform(df)[df.index[df["id"] == "b1"][0]].toarray().ravel()
    assert row[names.index("w:sad")] > 0  # the past turn is read with the target
    with pytest.raises(DataError, match="'r2'"):
        TfidfText(missing="error").fit(pd.DataFrame({"id": ["r1", "r2"], "text": ["a", ""]}))
    with pytest.raises(ConfigError, match="analyzer"):
        TfidfText(analyzer="bpe").fit(["a b"])
    with pytest.raises(DataError, match="min_df"):
        TfidfText(min_df=5).fit(["a b", "c d"])
    ct = clone(TfidfText(analyzer="char_wb", char_ngram_range=(1, 2)))
    assert ct.fit(["ab"]).get_feature_names_out().tolist() == [
        "c: ",
        "c: a",
        "c:a",
        "c:ab",
        "c:b",
        "c:b ",
        "text_missing",
    ]
