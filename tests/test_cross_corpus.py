"""Cross-corpus protocols: leave one corpus out (``--cv corpus``) and train-on/test-on
(``--test-corpus``/``--test-manifest``), on pseudo-corpora cut from the demo corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from emoclassic.cli import app
from emoclassic.data import load_inputs, load_test_sets
from emoclassic.evaluation import fit_final, run_cv, score_model
from emoclassic.evaluation._splits import _groups
from emoclassic.exceptions import DataError

_SPEC = """
name = "tiny_pooled"
[features.audio]
type = "pooled"
[classifier]
name = "logreg"
[grid]
"classifier.C" = [0.1, 1.0]
[cv]
scheme = "group"
n_splits = 2
"""
_COLUMNS = ["id", "path", "text", "label", "speaker"]
_EMOVO_CODE = {"anger": "rab", "sadness": "tri", "neutral": "neu", "happiness": "gio"}
_SENTENCES = ("b1", "b2", "b3", "l1", "l2", "l3", "l4", "n1", "n2", "n3", "n4", "n5", "d1", "d2")


@pytest.fixture(scope="module")
def corpora(demo_corpus, tmp_path_factory) -> dict[str, Path]:
    """The demo corpus's four speakers as pseudo-corpora: ``a`` (speakers 1-2, four classes),
    ``b`` (speaker 3, no happiness), the test manifest ``t`` (speaker 4, four classes) and the
    same clips of speaker 4 as an EMOVO-style folder (a second test set, read by its reader)."""
    _, demo = demo_corpus
    root = tmp_path_factory.mktemp("cross")
    spk = sorted(demo["speaker"].unique())
    demo = demo[_COLUMNS]
    demo[demo["speaker"].isin(spk[:2])].to_csv(root / "a.csv", index=False)
    third = demo[(demo["speaker"] == spk[2]) & (demo["label"] != "happiness")]
    third.to_csv(root / "b.csv", index=False)
    fourth = demo[demo["speaker"] == spk[3]]
    fourth.to_csv(root / "t.csv", index=False)
    for label, group in fourth.groupby("label"):
        for sentence, path in zip(_SENTENCES, group["path"], strict=False):
            target = root / "emovo" / "f1" / f"{_EMOVO_CODE[label]}-f1-{sentence}.wav"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    (root / "tiny.toml").write_text(_SPEC)
    return {"root": root, "a": root / "a.csv", "b": root / "b.csv", "t": root / "t.csv",
            "emovo": root / "emovo", "spec": root / "tiny.toml", "cache": root / "cache"}


def _run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


# --------------------------------------------------------------------------- the library
def test_train_on_test_on_scores_each_test_set_with_the_fit_model(corpora):
    train, _ = load_inputs([corpora["a"], corpora["b"]], classes="shared")
    tests = load_test_sets([corpora["t"]], [f"emovo:{corpora['emovo']}"])
    assert list(tests) == ["emovo", "t"]
    spec = str(corpora["spec"])
    report = run_cv(spec, train, scheme="logo", test_sets=tests, cache=corpora["cache"])
    alone = run_cv(spec, train, scheme="logo", cache=corpora["cache"])
    # the top-level figures stay the in-corpus CV's
    assert report["metrics"] == alone["metrics"] and "cross_corpus" not in alone
    cross = report["cross_corpus"]
    assert set(cross) == {"t", "emovo"}
    shared = ["anger", "neutral", "sadness"]  # b has no happiness: the model learns three
    for name, entry in cross.items():
        assert set(entry["metrics"]) == {"ua", "wa", "macro_f1", "weighted_f1"}
        assert entry["classes"] == {c: 6 for c in shared} and entry["n"] == 18
        assert entry["dropped"] == {"happiness": 6} and entry["n_dropped"] == 6, name
        assert sorted(entry["per_class"]) == shared
        assert entry["trained_on"] == ["a", "b"] and entry["n_train"] == len(train)
        assert np.asarray(entry["confusion"]["matrix"]).sum() == 18
    # the same clips under two names give the same scores
    assert cross["t"]["metrics"] == cross["emovo"]["metrics"]
    # one fitting step and one scoring step: fit_final + score_model give the same figures
    model = fit_final(spec, train, cache=corpora["cache"])
    scored = score_model(model, tests["t"], cache=corpora["cache"])
    assert cross["t"]["best_params"] == model.emoclassic_fit_["best_params"]
    assert {k: scored["metrics"][k] for k in cross["t"]["metrics"]} == cross["t"]["metrics"]
    assert report["timing"]["cross_corpus"] >= 0


def test_a_test_set_without_some_model_classes_is_scored_on_the_rest(corpora, caplog):
    train, _ = load_inputs([corpora["a"], corpora["t"]])
    with caplog.at_level("WARNING", logger="emoclassic.evaluation"):
        report = run_cv(str(corpora["spec"]), train, scheme="logo", cache=corpora["cache"],
                        test_sets=load_test_sets([corpora["b"]]))  # fmt: skip
    entry = report["cross_corpus"]["b"]
    assert entry["n"] == 18 and entry["n_dropped"] == 0 and "happiness" not in entry["per_class"]
    assert entry["confusion"]["labels"] == ["anger", "happiness", "neutral", "sadness"]
    assert any("test set b holds no happiness, which the model learns" in r.getMessage()
               for r in caplog.records)  # fmt: skip


def test_leave_one_corpus_out(corpora):
    train, _ = load_inputs([corpora["a"], corpora["b"], corpora["t"]], classes="union")
    report = run_cv(str(corpora["spec"]), train, scheme="corpus", cache=corpora["cache"])
    assert report["protocol"]["scheme"] == "corpus" and report["protocol"]["groups"] == "corpus"
    assert report["protocol"]["n_outer_folds"] == 3
    assert [f["test_groups"] for f in report["folds"]] == [["a"], ["b"], ["t"]]
    assert report["data"]["groups"] == {"a": 48, "b": 18, "t": 24}
    assert report["metrics"]["n"] == len(train)


def test_speaker_groups_are_corpus_speaker_pairs_with_several_corpora():
    frame = pd.DataFrame({"speaker": ["01", "01", "02", None], "corpus": ["x", "y", "y", "y"]})
    assert list(_groups(frame, "speaker")) == ["x:01", "y:01", "y:02", "y:<row 3>"]
    assert list(_groups(frame.assign(corpus="x"), "speaker")) == ["01", "01", "02", "<row 3>"]
    assert list(_groups(frame, "corpus")) == ["x", "y", "y", "y"]


def test_checks_before_anything_is_extracted(corpora, tmp_path):
    train, _ = load_inputs([corpora["a"]])
    spec = str(corpora["spec"])
    with pytest.raises(DataError, match="--cv corpus .* needs at least two corpora"):
        run_cv(spec, train, scheme="corpus")
    with pytest.raises(DataError, match="test set 'a' is also a training corpus"):
        run_cv(spec, train, test_sets=load_test_sets([corpora["a"]]))
    odd = pd.read_csv(corpora["t"]).assign(label=lambda d: np.where(
        d.index % 2, "boredom", "disgust"))  # fmt: skip
    with pytest.raises(DataError, match="test set 'odd' has no class the model learns"):
        run_cv(spec, train, test_sets={"odd": odd})
    with pytest.raises(DataError, match="test set 'copy' shares 48 audio file"):
        run_cv(spec, train, test_sets={"copy": pd.read_csv(corpora["a"])})


def test_test_sets_are_named_once(corpora, tmp_path):
    named = tmp_path / "whatever.csv"
    pd.read_csv(corpora["t"]).assign(corpus="studio").to_csv(named, index=False)
    assert list(load_test_sets([corpora["t"], named])) == ["t", "studio"]
    with pytest.raises(DataError, match="test set name 't' given twice"):
        load_test_sets([corpora["t"], corpora["t"]])


# --------------------------------------------------------------------------- the CLI
def test_cli_train_on_test_on(corpora):
    out = corpora["root"] / "cv"
    result = _run(
        "cv", "--pipeline", corpora["spec"], "--manifest", corpora["a"], "--manifest",
        corpora["b"], "--test-manifest", corpora["t"], "--test-corpus",
        f"emovo:{corpora['emovo']}", "--classes", "shared", "--cv", "logo", "--out", out,
        "--cache", corpora["cache"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads((out / "cv_report.json").read_text())
    assert set(report["cross_corpus"]) == {"t", "emovo"}
    assert report["cross_corpus"]["t"]["n_dropped"] == 6
    assert "test t: ua=" in result.stdout and "6 dropped" in result.stdout
    markdown = (out / "cv_report.md").read_text()
    assert "## Cross-corpus (%)" in markdown and "| test: emovo |" in markdown
    assert "in-corpus CV (a, b)" in markdown and "`t`: happiness 6" in markdown
    assert "Cross-corpus (%)" in (out / "cv_report.html").read_text()

    result = _run(
        "cv", "--pipeline", corpora["spec"], "--manifest", corpora["a"], "--manifest",
        corpora["b"], "--test-manifest", corpora["t"], "--cv", "logo", "--out", out,
        "--cache", corpora["cache"], "--format", "csv", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("cross_corpus:t,")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--cv", "corpus"], "--cv corpus (leave one corpus out) needs at least two corpora"),
        (["--test-manifest", "ODD"], "test set 'odd' has no class the model learns"),
        (["--test-manifest", "A"], "test set 'a' is also a training corpus"),
    ],
)
def test_cli_errors_are_one_line(corpora, extra, message):
    odd = corpora["root"] / "odd.csv"
    if not odd.exists():
        pd.read_csv(corpora["t"]).assign(label=lambda d: np.where(
            d.index % 2, "boredom", "disgust")).to_csv(odd, index=False)  # fmt: skip
    extra = [{"ODD": odd, "A": corpora["a"]}.get(x, x) for x in extra]
    result = _run("cv", "--pipeline", corpora["spec"], "--manifest", corpora["a"], *extra,
                  "--out", corpora["root"] / "bad", "--cache", corpora["cache"], "-q")  # fmt: skip
    assert result.exit_code == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output
