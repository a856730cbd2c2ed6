"""The shipped recommended specs: they load, run unchanged on other corpora, name no labels.

"Other corpora" here: a tiny generated demo corpus with and without a ``split`` column (so
``cv.scheme = "auto"`` takes both routes), and text-only manifests with and without dialogue
ids. A fresh feature cache per module keeps the tests independent of ``artifacts/``.
"""

from __future__ import annotations

import re
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emoclassic.data import CANONICAL_EMOTIONS, make_demo_corpus, validate_manifest
from emoclassic.evaluation import run_cv
from emoclassic.spec import load_spec

PIPES = Path(__file__).resolve().parents[1] / "pipelines"
RECOMMENDED = sorted(PIPES.glob("recommended-*.toml"))

#: label spellings a spec must not bake in (canonical names and common corpus aliases)
LABEL_WORDS = set(CANONICAL_EMOTIONS) | {
    "joy", "happy", "sad", "angry", "neu", "ang", "hap", "exc", "fru", "fea", "dis", "sur",
    "positive", "negative",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few clips: sklearn warns about tiny classes
        yield


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> pd.DataFrame:
    """3 speakers x 4 classes x 2 clips = 24 clips; splits by speaker: train, dev, test."""
    df = make_demo_corpus(tmp_path_factory.mktemp("demo"), n_speakers=3, n_per_class=2)
    assert set(df["split"]) == {"train", "dev", "test"}
    return df


def _strings(node):
    """Every key and string value of a parsed TOML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def test_the_four_recommended_specs_ship():
    names = {p.stem for p in RECOMMENDED}
    assert {"recommended-audio", "recommended-audio-speaker-norm", "recommended-text",
            "recommended-fusion"} <= names  # fmt: skip


@pytest.mark.parametrize("path", RECOMMENDED, ids=lambda p: p.stem)
def test_recommended_spec_loads_and_names_no_labels(path):
    spec = load_spec(path)
    assert spec.name == path.stem
    words = set()
    for s in _strings(tomllib.loads(path.read_text(encoding="utf-8"))):
        words |= set(re.findall(r"[a-z]+", s.lower()))
    assert not words & LABEL_WORDS, f"{path.name} names labels: {sorted(words & LABEL_WORDS)}"


@pytest.mark.parametrize("path", RECOMMENDED, ids=lambda p: p.stem)
def test_recommended_spec_comments_carry_measured_numbers(path):
    text = path.read_text(encoding="utf-8")
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    assert "Measured" in comments and re.search(r"0\.\d{3}", comments), path.name


def test_text_and_fusion_specs_take_the_auto_scheme():
    for name in ("recommended-text", "recommended-fusion"):
        assert load_spec(PIPES / f"{name}.toml").cv["scheme"] == "auto"


def _spec(name: str, small: bool):
    """The shipped spec; ``small``: each grid list cut to its first and last value (speed)."""
    spec = load_spec(PIPES / f"{name}.toml")
    if not small:
        return spec
    d = spec.to_dict()
    d["grid"] = {k: [v[0], v[-1]] if len(v) > 2 else v for k, v in d["grid"].items()}
    return load_spec(d)


@pytest.mark.parametrize("name", ["recommended-text", "recommended-fusion"])
@pytest.mark.parametrize("with_split", [True, False], ids=["split-column", "no-split"])
def test_spec_runs_on_demo_with_auto_scheme(demo, cache, name, with_split):
    # the split route (one fit per candidate) runs the whole shipped grid
    df = demo if with_split else demo.drop(columns=["split"])
    report = run_cv(_spec(name, small=not with_split), df, cache=cache)
    assert report["protocol"]["scheme"] == ("split" if with_split else "group")
    n_test = int((demo["split"] == "test").sum()) if with_split else len(demo)
    assert report["metrics"]["n"] == n_test
    assert report["data"]["n_failed"] == 0
    assert 0.0 <= report["metrics"]["ua"] <= 1.0


def _text_manifest(demo: pd.DataFrame, dialogues: bool) -> pd.DataFrame:
    """A transcript-only manifest (no audio paths), as ``validate_manifest`` completes it."""
    cols = ["id", "text", "label", "speaker"]
    if dialogues:
        cols += ["dialogue_id", "utterance_index"]
    df = validate_manifest(demo[cols].copy())
    assert df["path"].isna().all()
    assert df["dialogue_id"].notna().all() if dialogues else df["dialogue_id"].isna().all()
    return df


@pytest.mark.parametrize("dialogues", [True, False], ids=["dialogue-ids", "no-dialogue-ids"])
def test_recommended_text_runs_on_text_only_manifest(demo, cache, dialogues):
    df = _text_manifest(demo, dialogues)
    report = run_cv(_spec("recommended-text", small=True), df, cache=cache)
    assert report["protocol"]["scheme"] == "group"
    assert report["metrics"]["n"] == len(df)
    assert {f["block"] for f in report["data"]["failed"]} == set()
    feats = report["features"]
    assert feats["minilm_past"]["options"]["context_past"] == 2


def test_recommended_text_handles_rows_without_text(demo, cache):
    df = _text_manifest(demo, True)
    df.loc[df.index[::5], "text"] = ""  # untranscribed rows: zero vector + text_missing
    report = run_cv(_spec("recommended-text", small=True), df, cache=cache)
    assert report["metrics"]["n"] == len(df)


def test_recommended_text_final_model_predicts_a_lone_utterance(demo, cache):
    from emoclassic.evaluation import fit_final

    df = _text_manifest(demo, True)
    model = fit_final(_spec("recommended-text", small=True), df,
                      params={"classifier.C": 1.0}, cache=cache)  # fmt: skip
    lone = df.iloc[[5]].assign(dialogue_id=None)  # no transcript around it: no context
    pred = model.predict(lone)
    assert pred.shape == (1,) and pred[0] in set(df["label"])
    assert len(model.predict(df)) == len(df)


def test_tfidf_without_any_training_text_is_only_the_missing_column():
    from emoclassic.text import TfidfText

    tf = TfidfText(analyzer="both").fit(pd.Series(["", None, "  "]))
    X = tf.transform(pd.Series(["hello there", ""]))
    assert X.shape == (2, 1)
    assert X.toarray().ravel().tolist() == [0.0, 1.0]
    assert tf.get_feature_names_out().tolist() == ["text_missing"]
    with pytest.raises(Exception, match="empty"):
        TfidfText(missing="error").fit(pd.Series(["", None]))


def test_recommended_fusion_runs_on_a_corpus_without_transcripts(demo, cache):
    df = demo.drop(columns=["split"]).assign(text="")
    report = run_cv(_spec("recommended-fusion", small=True), df, cache=cache)
    assert report["metrics"]["n"] == len(df)
    assert report["data"]["n_failed"] == 0


def test_context_block_gets_its_own_features_during_cv(demo, cache):
    from emoclassic import config_context
    from emoclassic.features import TableLookup, precompute
    from emoclassic.fusion import build_pipeline

    spec = load_spec(PIPES / "recommended-text.toml")
    df = _text_manifest(demo, True)
    with config_context(cache=cache):
        pre = precompute(spec, df)
    assert not pre.failures
    pipe = build_pipeline(spec)
    ct = pipe.steps[0][1]
    blocks = {name: p.named_steps["extract"] for name, p, _ in ct.transformers}
    plain = TableLookup(blocks["minilm"], pre.tables).transform(df)
    past = TableLookup(blocks["minilm_past"], pre.tables).transform(df)
    with config_context(cache=cache):
        direct = blocks["minilm_past"].transform(df)
    assert not np.allclose(plain, past)
    np.testing.assert_allclose(past, direct, atol=1e-6)
