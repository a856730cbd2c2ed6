"""The own BERT path (text/_bert.py, _native.py, _pooling.py) against sentence-transformers.

MiniLM runs on emoclassic's own encoder and tokenizer; its vectors must equal
``SentenceTransformer(folder).encode`` (last layer) and sentence-transformers' hidden states
pooled by hand (other layers), and equal the library path's (forced here by making the own
path refuse) with dialogue context, int8 and bfloat16. Tiny random BERTs cover the config and
checkpoint forms the own path reads, and the ones it leaves to sentence-transformers. A
fused model's cold ``predict`` imports neither transformers nor sentence-transformers.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from emoclassic.text import SentenceEmbedder, default_model_path, resolve_model
from emoclassic.text._models import (
    OWN,
    SENTENCE_TRANSFORMERS,
    load_sentence_model,
    load_tokenizer,
    module_chain,
    text_backend,
)

LONG = " ".join(["this is a rather long sentence about feelings and the weather"] * 40)
TEXTS = [
    "You must've had your hands full.",
    "Oh my God!",
    "ok",
    "That I did. That I did.",
    "Café naïve RÉSUMÉ 東京 [MASK] hello [CLS] \t tabs\u200b zero-width",
    LONG,  # ~480 tokens: cut at MiniLM's 256
    "I'm SO angry right now!!! 😡",
]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "vocab.txt")  # fmt: skip


def _library(monkeypatch):
    """Make the own path refuse every model: the sentence-transformers path runs."""
    monkeypatch.setattr("emoclassic.text._native.own_path_reason", lambda ref, steps: "test")


def _close(a, b, atol):
    assert a.shape == b.shape
    assert float(np.abs(a - b).max()) <= atol, float(np.abs(a - b).max())


@pytest.fixture(scope="module")
def st_minilm():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(default_model_path()), device="cpu", local_files_only=True)


def _hidden_reference(st, texts, states):
    """sentence-transformers' own tokens and hidden states: the mean of ``states``, mean
    pooled over the mask, L2-normalised (MiniLM's Pooling and Normalize, by hand)."""
    import torch

    tok = st[0].tokenizer(texts, padding=True, truncation=True, max_length=st.max_seq_length,
                          return_tensors="pt")  # fmt: skip
    with torch.inference_mode():
        hidden = st[0].auto_model(**tok, output_hidden_states=True).hidden_states
        tokens = torch.stack([hidden[i] for i in states]).mean(dim=0)
        mask = tok["attention_mask"].unsqueeze(-1).float()
        pooled = (tokens * mask).sum(1) / mask.sum(1)
        return torch.nn.functional.normalize(pooled, dim=1).numpy()


# -- MiniLM: the shipped model runs on the own path ---------------------------------------------
def test_minilm_runs_on_the_own_path_and_equals_encode(st_minilm, caplog, monkeypatch):
    ref = resolve_model(None)
    monkeypatch.setattr("emoclassic.text._models._BACKEND_LOGGED", set())  # logged once each
    with caplog.at_level(logging.DEBUG, logger="emoclassic.text._models"):
        ours = SentenceEmbedder(max_length=256, missing="error").transform(TEXTS)
    assert text_backend(ref, module_chain(ref)) == OWN
    assert any("runs on emoclassic's own BERT encoder" in r.getMessage() for r in caplog.records)
    _close(ours, st_minilm.encode(TEXTS), 1e-5)  # LONG cut at MiniLM's 256 tokens by both
    short = SentenceEmbedder(missing="error").transform(TEXTS)  # max_length=128
    st_minilm.max_seq_length = 128
    try:
        _close(short, st_minilm.encode(TEXTS), 1e-5)
    finally:
        st_minilm.max_seq_length = 256
    assert SentenceEmbedder(pooling="cls")._backend(ref) == OWN
    assert SentenceEmbedder(normalize=False)._backend(ref) == OWN


@pytest.mark.parametrize(
    ("layer", "states"),
    [("second_to_last", [5]), ("last4_mean", [3, 4, 5, 6]), (2, [2]), (0, [0]), (-3, [4])],
)
def test_minilm_other_layers_equal_sentence_transformers_hidden_states(st_minilm, layer, states):
    ours = SentenceEmbedder(layer=layer, max_length=256, missing="error").transform(TEXTS)
    _close(ours, _hidden_reference(st_minilm, TEXTS, states), 1e-5)


def _dialogues() -> pd.DataFrame:
    return pd.DataFrame({
        "id": [f"u{i}" for i in range(len(TEXTS))],
        "dialogue_id": ["d"] * 4 + ["e"] * 3,
        "utterance_index": [0, 1, 2, 3, 0, 1, 2],
        "speaker": ["A", "B", "A", "B", "C", "D", "C"],
        "text": TEXTS,
    })  # fmt: skip


CONTEXTS = [
    {"context_past": 2, "context_future": 1},
    {"context_past": 2, "context_future": 1, "pool_span": "window", "speaker_names": True},
    {"context_past": 1, "layer": "last4_mean", "pooling": "cls"},
]


@pytest.mark.parametrize("options", CONTEXTS)
def test_dialogue_context_equals_the_library_path(options, monkeypatch):
    df = _dialogues()
    ours = SentenceEmbedder(missing="error", **options).transform(df)
    _library(monkeypatch)
    emb = SentenceEmbedder(missing="error", **options)
    assert emb._backend(resolve_model(None)) == SENTENCE_TRANSFORMERS
    _close(ours, emb.transform(df), 1e-5)


@pytest.mark.parametrize(
    "options", [{"dtype": "int8"}, {"dtype": "int8", "context_past": 2, "layer": "last4_mean"},
                {"dtype": "bfloat16"}, {"dtype": "bfloat16", "layer": "second_to_last"}]
)  # fmt: skip
def test_int8_and_bfloat16_equal_the_library_path(options, monkeypatch):
    """Both paths quantise (int8) or cast (bfloat16) the same Linears and run the same
    operations; measured bit-equal here, allowed a little where another CPU's kernels
    differ (int8 moves vectors by ~0.04 in cosine from float32, bfloat16 by 1e-3)."""
    df = _dialogues()
    ours = SentenceEmbedder(missing="error", **options).transform(df)
    _library(monkeypatch)
    lib = SentenceEmbedder(missing="error", **options).transform(df)
    _close(ours, lib, 1e-3)
    assert ((ours * lib).sum(axis=1) >= 0.9999).all()


def test_int8_quantises_the_own_encoders_linears_only():
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    from emoclassic.text._bert import BertEncoder

    ref = resolve_model(None)
    _, model = load_sentence_model(ref, "cpu", "int8", OWN)
    assert isinstance(model, BertEncoder)
    quantised = [m for m in model.modules() if isinstance(m, DynamicLinear)]
    assert not [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(quantised) == 6 * 4  # query+key+value stacked, attention output, FFN in and out
    assert {m.weight().qscheme() for m in quantised} == {torch.per_channel_affine}
    _, full = load_sentence_model(ref, "cpu", "float32", OWN)
    assert not any(isinstance(m, DynamicLinear) for m in full.modules())


@pytest.mark.parametrize(
    "strings",
    [TEXTS, ["HELLO World", "naïve café", "[SEP][CLS]x", "  spaces  ", "ÅÄÖ ß ǅ İstanbul",
             "a" * 150]],
)
def test_own_tokenizer_gives_the_ids_transformers_gives(strings):
    ref = resolve_model(None)
    own = load_tokenizer(ref, OWN)(strings, add_special_tokens=False)["input_ids"]
    lib = load_tokenizer(ref, SENTENCE_TRANSFORMERS)(strings, add_special_tokens=False)
    assert own == lib["input_ids"]
    assert (load_tokenizer(ref, OWN).cls_token_id, load_tokenizer(ref, OWN).model_max_length) == (
        101, 512)  # fmt: skip


# -- tiny random BERTs: the forms the own path reads, and the ones it leaves alone ---------------
def _save(folder, *, seed=0, safe=True, head=False, tokenizer=TOKENIZER_FILES, **config):
    """A 2-layer, 32-wide random BERT with MiniLM's tokenizer files, saved with save_pretrained
    (a BertForMaskedLM's checkpoint when ``head``: weights under ``bert.``)."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    for name in tokenizer:
        shutil.copy(default_model_path() / name, folder / name)
    settings = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                "intermediate_size": 37, "max_position_embeddings": 128, **config}  # fmt: skip
    torch.manual_seed(seed)
    model = (BertForMaskedLM if head else BertModel)(BertConfig(**settings)).eval()
    model.save_pretrained(str(folder), safe_serialization=safe)
    return folder


def _plain_reference(folder, texts):
    """sentence-transformers on a plain folder: Transformer + mean Pooling, then L2."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    ref = st.encode(texts)
    return ref / np.linalg.norm(ref, axis=1, keepdims=True)


@pytest.mark.parametrize(
    "form",
    [
        {"hidden_act": "gelu_new"},
        {"hidden_act": "relu"},
        {"hidden_act": "gelu_pytorch_tanh", "type_vocab_size": 1},
        {"safe": False},  # pytorch_model.bin
        {"head": True},  # bert.-prefixed weights beside a masked-LM head
    ],
)
def test_tiny_bert_forms_run_on_the_own_path_and_equal_sentence_transformers(form, tmp_path):
    folder = _save(tmp_path / "bert", **form)
    emb = SentenceEmbedder(folder, missing="error")
    ref = resolve_model(folder)
    assert emb._backend(ref) == OWN
    _close(emb.transform(TEXTS), _plain_reference(folder, TEXTS), 1e-5)


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
        ({"tokenizer": ("vocab.txt", "tokenizer_config.json")}, "no tokenizer.json"),
    ],
)
def test_what_the_own_path_does_not_read_runs_through_sentence_transformers(
    form, reason, tmp_path, caplog, monkeypatch
):
    from emoclassic.text._native import own_path_reason

    monkeypatch.setattr("emoclassic.text._models._BACKEND_LOGGED", set())
    folder = _save(tmp_path / "bert", **form)
    ref = resolve_model(folder)
    assert reason in own_path_reason(ref, module_chain(ref))
    emb = SentenceEmbedder(folder, missing="error")
    with caplog.at_level(logging.DEBUG, logger="emoclassic.text._models"):
        ours = emb.transform(TEXTS[:4])
    assert emb._backend(ref) == SENTENCE_TRANSFORMERS
    assert any("through sentence-transformers" in r.getMessage() for r in caplog.records)
    _close(ours, _plain_reference(folder, TEXTS[:4]), 1e-5)


def test_sentence_transformers_lowercasing_and_tokenizer_options_are_kept(tmp_path):
    """``do_lower_case`` of the Transformer module lower-cases before a cased tokenizer;
    tokenizer_config.json's options win over tokenizer.json's normaliser, as in transformers."""
    folder = _save(tmp_path / "cased")
    cfg_file = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg.update(do_lower_case=False, strip_accents=False)
    cfg_file.write_text(json.dumps(cfg))
    strings = ["HELLO World", "Naïve CAFÉ", "ÅÄÖ", "hello world"]
    ref = resolve_model(folder)

    def ids(backend):
        return load_tokenizer(ref, backend)(strings, add_special_tokens=False)["input_ids"]

    cased = ids(OWN)
    assert cased == ids(SENTENCE_TRANSFORMERS)
    assert cased[0] != cased[3]  # not lower-cased: "HELLO" is not in MiniLM's vocabulary
    (folder / "sentence_bert_config.json").write_text('{"do_lower_case": true}')
    lowered = ids(OWN)
    assert lowered != cased and lowered[0] == lowered[3]
    from emoclassic.text import _models

    _models._TOKENIZERS.clear()  # the library's tokenizer is remembered per folder path
    assert lowered == ids(SENTENCE_TRANSFORMERS)


# -- the cold start ------------------------------------------------------------------------------
FUSED = """
name = "own-text-fused"
[features.audio]
type = "pooled"
preset = "compact"
[features.minilm]
type = "text"
layer = "second_to_last"
[classifier]
name = "logreg"
"""


def test_fused_model_cold_predict_imports_neither_transformers_nor_sentence_transformers(
    tmp_path,
):
    """Issue 16's fast start: a fused model's `predict` runs MiniLM on torch, safetensors
    and tokenizers only; nothing pulls in transformers, sentence-transformers or what they
    import (torch._dynamo, sympy)."""
    from typer.testing import CliRunner

    from emoclassic.cli import app
    from emoclassic.data import make_demo_corpus

    corpus = make_demo_corpus(tmp_path / "corpus", n_speakers=3, n_per_class=2, seed=1)
    (tmp_path / "fused.toml").write_text(FUSED, encoding="utf-8")
    fit = CliRunner().invoke(app, ["fit", "--manifest", str(tmp_path / "corpus" / "manifest.csv"),
                                   "--pipeline", str(tmp_path / "fused.toml"),
                                   "--out", str(tmp_path / "fused.joblib"), "-q"])  # fmt: skip
    assert fit.exit_code == 0, fit.stderr
    row = corpus.iloc[0]
    code = (
        "import json, sys\n"
        "from emoclassic.cli import main\n"
        f"sys.argv = ['emoclassic', 'predict', '--model', {str(tmp_path / 'fused.joblib')!r}, "
        f"{str(row['path'])!r}, '--text', {row['text']!r}, '--format', 'json', '-q']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = [m for m in ('transformers', 'sentence_transformers', 'torch._dynamo', "
        "'sympy', 'xgboost', 'librosa', 'numba', 'matplotlib', 'dask') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert 'torch' in sys.modules and 'tokenizers' in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["predictions"][0]["label"]
