"""``emoclassic features``: one fixed feature set extracted to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._app import _examples, app
from ._options import DEFAULT_OUT, DataArgs, RunArgs, shared_options
from ._output import _failure_record, _finish, _print_csv, _print_json, _say, _tell

#: ``--set`` names: spec block types that are fixed (unlearned) per-utterance feature sets.
_SETS = ("pooled", "alexnet", "text", "opensmile")
#: The pooled presets, listed statically so that ``--help`` imports no audio code (a test
#: checks this tuple against ``emoclassic.audio.PRESETS``).
POOLED_PRESETS = ("logmel-meanstd", "compact", "default", "large", "large-vuv", "large-vq",
                  "rasta-vq")


def _set_options(
    name: str,
    *,
    preset: str | None,
    alexnet_weights: Path | None,
    text_model: str | None,
) -> dict[str, Any]:
    """The block options of a named feature set (checked; no import of the extractor)."""
    from ..exceptions import ConfigError

    if name == "tfidf":
        raise ConfigError(
            "--set tfidf learns a vocabulary from the training folds, so it is not a fixed "
            "feature set; use it inside a pipeline spec (emoclassic cv)"
        )
    if name not in _SETS:
        raise ConfigError(f"--set {name!r} is unknown; choose one of {', '.join(_SETS)}")
    if preset and name not in ("pooled", "opensmile"):
        raise ConfigError(f"--preset applies to --set pooled or opensmile, not --set {name}")
    if alexnet_weights is not None and name != "alexnet":
        raise ConfigError(f"--alexnet-weights applies to --set alexnet, not --set {name}")
    if text_model is not None and name != "text":
        raise ConfigError(f"--text-model applies to --set text, not --set {name}")
    options: dict[str, Any] = {}
    if name == "pooled" and preset:
        if preset not in POOLED_PRESETS:
            raise ConfigError(
                f"--preset {preset!r} is unknown; choose one of {', '.join(POOLED_PRESETS)}"
            )
        options["preset"] = preset
    elif name == "opensmile" and preset:
        options["feature_set"] = preset
    elif name == "alexnet" and alexnet_weights is not None:
        options["weights"] = str(alexnet_weights)
    elif name == "text" and text_model is not None:
        options["model"] = text_model
    return options


def _make_extractor(name: str, options: dict[str, Any], *, cache: str | None, jobs: int,
                    progress: bool):
    """The extractor of a named feature set, built through the spec's block registry."""
    from ..fusion import make_extractor

    ex = make_extractor(name, options, cache=cache, n_jobs=jobs)
    if "progress" in ex.get_params(deep=False):
        ex.set_params(progress=progress)
    return ex


def _cached_result(feature_set: str, options_of, data: DataArgs, run: RunArgs, out: Path):
    """The result when every row is already cached (read without scikit-learn or pandas), or
    None: then the normal path runs and says whatever there is to say."""
    from ..exceptions import EmoclassicError
    from ..features import FEATURE_FILE_SUFFIXES, cached_extraction

    manifest = data.single_manifest  # several inputs, a label map or --classes: the normal path
    if manifest is None or run.cache_dir is None or run.backend != "local":
        return None
    if out.suffix.lower() not in FEATURE_FILE_SUFFIXES:
        return None
    try:
        options = options_of()
    except EmoclassicError:
        return None
    return cached_extraction(
        feature_set, options, manifest, cache=run.cache_dir,
        label_column=data.label_column, text_column=data.text_column,
        path_column=data.path_column, speaker_column=data.speaker_column,
        require_labels=False, check_files=False,
    )


def _write_spectrograms(folder: Path, manifest, ok_ids: set[str], kind: str) -> int:
    """One spectrogram PNG per extracted audio row (the library's writer; bad rows skipped)."""
    from ..audio import save_spectrogram_pngs

    rows = manifest[manifest["id"].astype(str).isin(ok_ids) & manifest["path"].notna()]
    if not len(rows):
        return 0
    out = save_spectrogram_pngs(rows, folder, kind=kind, on_error="skip")
    return int(out["png"].notna().sum())


@app.command(
    epilog=_examples(
        "emoclassic features --corpus emodb:data/emodb --set pooled --preset large-vuv "
        "--out artifacts/features/emodb_pooled.npz",
        "emoclassic features --manifest my_clips.csv --set text --out text.csv",
        "emoclassic features --manifest my_clips.csv --set opensmile --preset ComParE_2016 "
        "--out compare.parquet --format json",
    )
)
@shared_options("jobs", "cache", "backend", "scheduler", "fmt", "progress")
def features(
    feature_set: Annotated[
        str, typer.Option("--set", help="pooled | alexnet | text | opensmile (the last needs "
                          "pip install \"emoclassic[opensmile]\").", metavar="SET")
    ] = "pooled",
    *,
    data: DataArgs,
    preset: Annotated[
        str | None,
        typer.Option(help="--set pooled: the preset (" + ", ".join(POOLED_PRESETS) + "; "
                     "default: default). --set opensmile: the openSMILE feature set "
                     "(eGeMAPSv02, ComParE_2016, ...; default: eGeMAPSv02).", metavar="NAME"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output .npz (default), .parquet or .csv.", metavar="FILE"),
    ] = None,
    spectrogram_png: Annotated[
        Path | None, typer.Option(help="Also write one spectrogram PNG per file here.",
                                  metavar="DIR")
    ] = None,
    spectrogram_kind: Annotated[
        str, typer.Option(help="figure: for people (time and Hz axes, dB colour bar); cnn: "
                          "the 224x224 image a CNN is fed.", metavar="figure|cnn")
    ] = "figure",
    alexnet_weights: Annotated[
        Path | None, typer.Option(help="AlexNet weights file (default: random weights).",
                                  metavar="PATH")
    ] = None,
    text_model: Annotated[
        str | None, typer.Option(help="Sentence-transformer folder (default: MiniLM).",
                                 metavar="PATH")
    ] = None,
    run: RunArgs,
) -> int:
    """Extract one feature set: the matrix with row ids and feature names.

    Bad files are listed and skipped (exit 1); every good row is kept and cached.
    """
    from ..artifacts import check_writable
    from ..exceptions import ConfigError
    from ..features import FEATURE_FILE_SUFFIXES, save_features

    if spectrogram_kind not in ("figure", "cnn"):
        raise ConfigError(f"--spectrogram-kind {spectrogram_kind!r}: choose figure or cnn")

    def options_of() -> dict[str, Any]:
        return _set_options(feature_set, preset=preset, alexnet_weights=alexnet_weights,
                            text_model=text_model)

    out = out or DEFAULT_OUT / "features" / f"{feature_set}.npz"
    result = None
    if spectrogram_png is None:  # the PNGs need the manifest's frame: the normal path
        result = _cached_result(feature_set, options_of, data, run, out)
    if result is None:
        from ..features import extract, remember_extraction

        rows = data.load(require_labels=False, check_files=False)
        options = options_of()
        extractor = _make_extractor(feature_set, options, cache=run.cache_dir, jobs=run.jobs,
                                    progress=run.bars)
        n_rows = len(rows)
    else:
        n_rows = len(result.ids)
    if out.suffix.lower() not in FEATURE_FILE_SUFFIXES:
        raise ConfigError(f"--out {out}: use a .npz, .parquet or .csv file name")
    check_writable(out)
    _say(f"extracting {feature_set} features of {n_rows} utterances ...")
    if result is None:
        result = extract(extractor, rows, backend=run.backend, scheduler=run.scheduler)
        remember_extraction(feature_set, options, extractor, run.cache_dir)
    n_features = int(result.features.shape[1]) if result.ids else 0
    if result.ids:
        save_features(result, out)
        _tell(f"wrote {len(result.ids)} x {n_features} features to {out}")
    n_png = None
    if spectrogram_png is not None and result.ids:
        n_png = _write_spectrograms(spectrogram_png, rows, set(result.ids), spectrogram_kind)
        _tell(f"wrote {n_png} spectrogram PNGs to {spectrogram_png}")
    summary = {
        "feature_set": feature_set,
        "out": str(out) if result.ids else None,
        "n_items": len(result.ids),
        "n_features": n_features,
        "spectrograms": None if n_png is None else {"folder": str(spectrogram_png), "n": n_png},
        "failed": [_failure_record(f) for f in result.failures],
    }
    if run.fmt == "json":
        _print_json(summary)
    elif run.fmt == "csv":
        _print_csv(["feature_set", "out", "n_items", "n_features", "n_failed"],
                   [[feature_set, summary["out"], len(result.ids), n_features,
                     len(result.failures)]])
    return _finish(result.failures, len(result.ids))
