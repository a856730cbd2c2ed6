"""The demo main job: everything emoclassic does, end to end, on a generated corpus.

``emoclassic demo`` (and ``make demo``) call :func:`run_demo`: generate the demo corpus, run
the fused demo pipeline's grid-search cross-validation with modality ablation, write reports
and plots, fit and save the final model, draw a spectrogram and predict one file with the saved
model, as a new user would. It runs in about a minute on two cores.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from ._atomic import atomic_write_json
from .artifacts import _jsonable
from .exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["run_demo", "DEMO_SPEC"]

#: The shipped spec the demo runs (``emoclassic/pipelines/demo.toml``, package data).
DEMO_SPEC = "demo"


def _spectrogram_example(wav: str, out: Path, *, title: str | None = None) -> Path:
    """The spectrogram figure a person reads (time, Hz, dB colour bar), not the CNN input."""
    from .audio import load_audio, save_spectrogram_figure

    sr = 16000
    return save_spectrogram_figure(out, load_audio(wav, sr=sr), sr, title=title)


def _metric(report: dict, key: str = "ua") -> float | None:
    value = (report or {}).get(key)
    if isinstance(value, dict):
        value = value.get("mean")
    return float(value) if isinstance(value, (int, float)) else None


def _summary(report: dict, elapsed: float) -> str:
    """Headline lines: the fused score and each modality alone (from the ablation)."""
    lines = []
    metrics = report.get("metrics") or {}
    fused = _metric(metrics)
    acc = _metric(metrics, "wa")
    head = f"demo: fused pipeline '{report.get('name', 'demo')}'"
    if fused is not None:
        head += f" UA {fused:.3f}"
    if acc is not None:
        head += f", WA {acc:.3f}"
    lines.append(head + f" ({elapsed:.0f} s)")
    for name, entry in (report.get("ablation") or {}).items():
        m = entry.get("metrics", entry) if isinstance(entry, dict) else {}
        uar = _metric(m)
        if uar is not None:
            lines.append(f"  {name:>10}: UA {uar:.3f}")
    return "\n".join(lines)


def run_demo(
    out_dir: str | os.PathLike = "artifacts/demo",
    *,
    seed: int = 0,
    n_jobs: int = 1,
    n_speakers: int = 8,
    n_per_class: int = 12,
    spec: str | os.PathLike | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the demo main job into ``out_dir``; return the paths written (and a summary).

    ``n_speakers``/``n_per_class`` size the generated corpus (tests use a smaller one);
    ``spec`` overrides the demo pipeline spec (default: the shipped ``demo`` spec). Keys of
    the result: ``corpus``, ``manifest``,
    the report files of :func:`emoclassic.evaluation.write_reports` (prefixed ``cv_``),
    ``model``, ``model_card``, ``spectrogram``, ``prediction`` and ``summary`` (text).
    """
    from .artifacts import load_model, save_model
    from .data import make_demo_corpus
    from .evaluation import fit_final, run_cv, write_reports
    from .prediction import predict_manifest, probability_source
    from .spec import load_spec

    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "cache"

    logger.info("demo: generating the corpus")
    manifest = make_demo_corpus(
        out / "corpus", n_speakers=n_speakers, n_per_class=n_per_class, seed=seed
    )
    spec_obj = load_spec(DEMO_SPEC if spec is None else spec)

    logger.info("demo: cross-validating %s with ablation", getattr(spec_obj, "name", "demo"))
    report = run_cv(
        spec_obj, manifest, n_jobs=n_jobs, ablation=True, cache=cache, progress=progress
    )
    report_paths = write_reports(report, out / "cv") or {}

    logger.info("demo: fitting the final model")
    params = report.get("best_params")
    estimator = fit_final(spec_obj, manifest, params=params, cache=cache, n_jobs=n_jobs)
    model_path = out / "model.joblib"
    saved = save_model(
        estimator,
        model_path,
        spec=spec_obj,
        train_manifest=manifest,
        cv_metrics=report.get("metrics"),
        extra={"params": params, "demo": {"seed": seed, "n_speakers": n_speakers,
                                          "n_per_class": n_per_class}},
    )

    example = manifest.iloc[0]
    spectrogram = _spectrogram_example(
        str(example["path"]), out / "spectrogram_example.png",
        title=f"{example['id']} ({example['label']}): log-mel spectrogram",
    )

    # Smoke test: reload the saved model (checks and all) and predict one file, as a user would.
    model, info = load_model(model_path)
    one = manifest.iloc[[0]][["id", "path", "text", "speaker"]].reset_index(drop=True)
    needs_speakers = bool(info.get("speaker_normalization"))
    if needs_speakers:  # a speaker-normalised model predicts a speaker's files together
        one = manifest[manifest["speaker"] == example["speaker"]][
            ["id", "path", "text", "speaker"]
        ].reset_index(drop=True)
    result = predict_manifest(model, one, info=info)
    prediction_path = out / "prediction_example.json"
    payload = result.to_dict({"path": str(model_path), "name": info.get("name"),
                              "sha256": info.get("sha256"), "labels": result.labels,
                              "modalities": info.get("modalities"),
                              "probabilities": probability_source(model)})
    truth = dict(zip(manifest["id"].astype(str), manifest["label"].astype(str), strict=True))
    payload["true_labels"] = {str(i): truth.get(str(i)) for i in one["id"]}
    atomic_write_json(prediction_path, _jsonable(payload))
    if result.failures:
        raise ConfigError(
            f"demo: predicting {example['path']} with the saved model failed: "
            f"{result.failures[0].message}"
        )

    elapsed = time.perf_counter() - t0
    paths: dict[str, Any] = {
        "corpus": out / "corpus",
        "manifest": out / "corpus" / "manifest.csv",
        **{f"cv_{k}" if not str(k).startswith("cv") else str(k): Path(v)
           for k, v in report_paths.items()},
        "model": Path(saved["model_path"]),
        "model_card": Path(saved["card_path"]),
        "spectrogram": spectrogram,
        "prediction": prediction_path,
        "summary": _summary(report, elapsed),
    }
    logger.info("demo finished in %.1f s", elapsed)
    return paths
