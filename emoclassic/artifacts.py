"""Saved models: ``MODEL.joblib`` with its model card ``MODEL.json`` beside it.

A joblib file is a pickle: **loading one runs code**, so only load files from a source you
trust. The model card is what makes a model file checkable before that happens: it records the
sha256 of the .joblib (a truncated, corrupt or altered file is refused), the library versions it
was written with (a different scikit-learn major.minor is refused unless trusted, since its
pickles are not compatible across releases), the pipeline spec, the feature configurations
(which text model, whether AlexNet weights were pretrained), the label set, a summary of the
training data, the CV metrics and a summary of the out-of-distribution detector (method,
per-modality thresholds, target rate; the detector itself is pickled with the estimator as
``emoclassic_ood_``). :func:`load_model` refuses a .joblib without its card
unless ``trust=True``. ("Manifest" is the utterance table; the model's JSON is its card.)

Writes are atomic (temporary file in the same folder + ``os.replace``): the .joblib first, then
the card holding its sha256, so a crash never leaves a card describing another file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from . import _walk
from ._atomic import _mkstemp_beside, atomic_path, atomic_write_json
from ._deprecate import REMOVED_IN
from ._json import jsonable as _jsonable
from ._paths import shown_path
from ._versions import major_minor, versions
from .exceptions import ModelError

logger = logging.getLogger(__name__)

__all__ = [
    "FORMAT_VERSION",
    "save_model",
    "load_model",
    "inspect_model",
    "card_path",
    "manifest_path",
    "file_sha256",
    "check_writable",
    "adaptation_summary",
    "find_adaptation_steps",
    "find_extractors",
    "find_speaker_normalizers",
    "iter_estimators",
]

#: Version of the model card's layout; bump on incompatible changes.
FORMAT_VERSION = 1

_FORMAT_NAME = "emoclassic-model"


# --------------------------------------------------------------------------- helpers
def card_path(path: str | os.PathLike) -> Path:
    """The model card beside a model file: ``model.joblib -> model.json``."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        raise ModelError(f"{p}: give the .joblib model file, not its .json model card")
    return p.with_suffix(".json")


def manifest_path(path: str | os.PathLike) -> Path:
    """The old name of :func:`card_path` (deprecated; removed in 0.3)."""
    import warnings

    warnings.warn(f"manifest_path() is deprecated and will be removed in emoclassic {REMOVED_IN}; "
                  "use card_path()", FutureWarning, stacklevel=2)
    return card_path(path)


def _model_file(path: str | os.PathLike) -> Path:
    """Accept the card's path too, since users will point at either file."""
    p = Path(path).expanduser()
    if p.suffix.lower() == ".json":
        p = p.with_suffix(".joblib")
    return p


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_writable(path: str | os.PathLike) -> Path:
    """Create ``path``'s folder and make sure a file can be written there, before long work.

    Raises the ``OSError`` (naming ``path``) that writing would raise later.
    """
    p = Path(path).expanduser()
    fd, tmp = _mkstemp_beside(p, ".probe")
    os.close(fd)
    os.unlink(tmp)
    return p


# --------------------------------------------------------------------------- walking
iter_estimators = _walk.iter_estimators  # the one walk (templates and fitted clones)


def find_extractors(estimator: Any) -> list[Any]:
    """Every emoclassic feature extractor inside a (fitted) pipeline, in walk order, once each.

    A meta-estimator's template and its fitted clone are one extractor (same parameters).
    """
    from .features import BaseExtractor

    return _distinct(
        obj
        for obj in iter_estimators(estimator)
        if isinstance(obj, BaseExtractor)
        or hasattr(obj, "weights_info")
        or hasattr(obj, "model_identity")
    )


def _distinct(objs: Iterator[Any]) -> list[Any]:
    """One estimator per class and parameter set (the walk meets templates and clones)."""
    out, seen = [], set()
    for obj in objs:
        try:
            key = (type(obj), repr(sorted(obj.get_params(deep=False).items())))
        except Exception:  # noqa: BLE001 - unusual estimator: keep it
            key = (type(obj), id(obj))
        if key not in seen:
            seen.add(key)
            out.append(obj)
    return out


def _feature_blocks(estimator: Any) -> list[Any]:
    """Extractors plus learned feature transformers of emoclassic (e.g. TF-IDF) in a model."""
    from .features import BaseExtractor

    prefixes = ("emoclassic.audio", "emoclassic.text")
    return _distinct(
        obj
        for obj in iter_estimators(estimator)
        if isinstance(obj, BaseExtractor)
        or (type(obj).__module__.startswith(prefixes) and hasattr(obj, "transform"))
    )


def find_adaptation_steps(estimator: Any) -> list[Any]:
    """The domain-adaptation steps of a model (per-group normalisers, CORAL)."""
    from .fusion._grouped import _GroupStep

    return [obj for obj in iter_estimators(estimator) if isinstance(obj, _GroupStep)]


def find_speaker_normalizers(estimator: Any) -> list[Any]:
    """Per-speaker normalisation steps (they need several utterances per new speaker)."""
    from .fusion import GroupNormalizer, SpeakerNormalizer

    return [obj for obj in find_adaptation_steps(estimator)
            if isinstance(obj, SpeakerNormalizer)
            or (isinstance(obj, GroupNormalizer) and obj._group_column == "speaker")]  # fmt: skip


def adaptation_summary(estimator: Any) -> dict[str, str]:
    """``normalization`` (the columns a model normalises by: ``speaker``, ``corpus``, both
    joined by ", ", or ``none``) and ``adaptation`` (``coral`` or ``none``), read from its
    steps: what the model card says."""
    from .fusion import CORAL, GroupNormalizer

    steps = find_adaptation_steps(estimator)
    by = sorted({s._group_column for s in steps if isinstance(s, GroupNormalizer)})
    coral = any(isinstance(s, CORAL) for s in steps)
    return {"normalization": ", ".join(by) or "none", "adaptation": "coral" if coral else "none"}


def _extractor_config(extractor: Any) -> dict:
    """What determines an extractor's output, plus the identity of external weights."""
    try:
        config = dict(extractor._config())
    except Exception:  # noqa: BLE001 - not a BaseExtractor: fall back to its parameters
        config = {"class": type(extractor).__name__}
        with contextlib.suppress(Exception):
            config.update(extractor.get_params(deep=False))
    config.pop("cache", None)
    for method, key in (("weights_info", "weights"), ("model_identity", "text_model")):
        fn = getattr(extractor, method, None)
        if callable(fn):
            try:
                config[key] = fn()
            except Exception as exc:  # noqa: BLE001 - a model card must still be written
                config[key] = {"error": f"{type(exc).__name__}: {exc}"}
    return _jsonable(config)


@contextlib.contextmanager
def _without_runtime(estimator: Any) -> Iterator[None]:
    """The model as it is saved: no extractor carries a cache folder, worker count or progress.

    Those say how the training machine computed, not what was learned; at prediction they come
    from :func:`emoclassic.config_context`. They are put back after the dump.
    """
    from .features import BaseExtractor

    changed: list[tuple[Any, str, Any]] = []
    try:
        for ex in iter_estimators(estimator):
            if not isinstance(ex, BaseExtractor):
                continue
            names = ex.get_params(deep=False)
            for name in ("cache", "n_jobs", "progress"):
                if name in names and getattr(ex, name, None) is not None:
                    changed.append((ex, name, getattr(ex, name)))
                    setattr(ex, name, None)
        yield
    finally:
        for ex, name, old in reversed(changed):
            setattr(ex, name, old)


def _unique(configs: list[dict]) -> list[dict]:
    seen, out = set(), []
    for c in configs:
        key = json.dumps(c, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


# --------------------------------------------------------------------------- summaries
def _spec_dict(spec: Any) -> dict | None:
    if spec is None:
        return None
    if isinstance(spec, dict):
        return _jsonable(spec)
    if hasattr(spec, "to_dict"):
        return _jsonable(spec.to_dict())
    return {"repr": repr(spec)}


def _spec_modalities(spec: Any, extractors: list[Any]) -> list[str]:
    if spec is not None and hasattr(spec, "modalities"):
        try:
            return sorted(str(m) for m in spec.modalities())
        except Exception:  # noqa: BLE001 - fall back to the extractors
            pass
    found = set()
    for ex in extractors:
        name = type(ex).__module__ + "." + type(ex).__name__
        if ".audio" in name:
            found.add("audio")
        elif ".text" in name:
            found.add("text")
    return sorted(found)


def _find_flag(tree: Any, key: str) -> bool:
    """Whether ``key`` is set truthy anywhere in a nested spec dict."""
    if isinstance(tree, dict):
        return any(
            (k == key and bool(v) and v != "none") or _find_flag(v, key) for k, v in tree.items()
        )
    if isinstance(tree, list):
        return any(_find_flag(v, key) for v in tree)
    return False


def _labels(estimator: Any) -> list[str] | None:
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return None
    return [str(c) for c in list(classes)]


def _ood_summary(estimator: Any) -> dict | None:
    """The card's ``out_of_distribution`` entry (None: the model has no detector)."""
    ood = getattr(estimator, "emoclassic_ood_", None)
    if ood is None or not hasattr(ood, "summary"):
        return None
    try:
        return _jsonable(ood.summary())
    except Exception as exc:  # noqa: BLE001 - a model card must still be written
        return {"error": f"{type(exc).__name__}: {exc}"}


def _training_summary(manifest: Any) -> dict | None:
    if manifest is None:
        return None
    summary: dict[str, Any] = {"n_utterances": int(len(manifest))}
    for column, key in (("label", "per_class"), ("speaker", "per_speaker"),
                        ("corpus", "per_corpus"), ("split", "per_split")):
        if column in getattr(manifest, "columns", ()):
            counts = manifest[column].dropna().astype(str).value_counts().sort_index()
            summary[key] = {str(k): int(v) for k, v in counts.items()}
    combined = getattr(manifest, "attrs", {}).get("emoclassic_combine")
    if isinstance(combined, dict):  # several inputs (emoclassic.data.combine_manifests)
        summary["combined"] = {
            "label_space": {"mode": combined.get("mode"),
                            "classes": list(combined.get("classes") or [])},
            "dropped": {str(c): dict(v) for c, v in (combined.get("dropped") or {}).items()},
            "label_map": dict(combined.get("label_map") or {}),
        }  # fmt: skip
    return summary


# --------------------------------------------------------------------------- save
def save_model(
    estimator: Any,
    path: str | os.PathLike,
    *,
    spec: Any = None,
    train_manifest: Any = None,
    cv_metrics: dict | None = None,
    extra: dict | None = None,
) -> dict:
    """Write ``path`` (joblib) and its model card ``path.with_suffix('.json')`` atomically.

    Extractors' ``cache`` folders are blanked in the saved copy (they belong to the training
    machine). Returns the card as written, with ``model_path`` and ``card_path`` (and
    ``manifest_path``, the old name of ``card_path``, deprecated; removed in 0.3).
    """
    import joblib

    model_file = Path(path).expanduser()
    if model_file.suffix.lower() != ".joblib":
        raise ModelError(f"{model_file}: a model file name must end in .joblib (e.g. model.joblib)")
    if not hasattr(estimator, "predict"):
        raise ModelError(f"cannot save {type(estimator).__name__} to {model_file}: not a model")
    json_file = card_path(model_file)

    extractors = _feature_blocks(estimator)
    with _without_runtime(estimator), atomic_path(model_file) as tmp:
        joblib.dump(estimator, tmp)
    digest = file_sha256(model_file)

    spec_d = _spec_dict(spec)
    card = {
        "format": _FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017 (py310)
        "model_file": model_file.name,
        "sha256": digest,
        "size_bytes": model_file.stat().st_size,
        "estimator": type(estimator).__name__,
        "versions": versions(),
        "name": getattr(spec, "name", None) if spec is not None else None,
        "modalities": _spec_modalities(spec, extractors),
        "speaker_normalization": _find_flag(spec_d, "speaker_normalization")
        or bool(find_speaker_normalizers(estimator)),
        **adaptation_summary(estimator),
        "labels": _labels(estimator),
        "features": _unique([_extractor_config(ex) for ex in extractors]),
        "spec": spec_d,
        "training_data": _training_summary(train_manifest),
        "out_of_distribution": _ood_summary(estimator),
        "cv_metrics": _jsonable(cv_metrics) if cv_metrics is not None else None,
        "extra": _jsonable(extra) if extra else {},
    }
    atomic_write_json(json_file, card)
    logger.info("saved model to %s (model card %s)", model_file, json_file.name)
    return {**card, **_paths_of(model_file, json_file)}


def _paths_of(model_file: Path, json_file: Path | None) -> dict[str, str | None]:
    """Where the model and its card are (``manifest_path``: the old key, for one release)."""
    card = str(json_file) if json_file is not None else None
    return {"model_path": str(model_file), "card_path": card, "manifest_path": card}


# --------------------------------------------------------------------------- load
def _read_card(json_file: Path, model_file: Path) -> dict:
    try:
        info = json.loads(json_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"{json_file}: the model card is unreadable ({type(exc).__name__}); restore the "
            f".json written with {model_file.name} or re-create the model with `emoclassic fit`"
        ) from exc
    if not isinstance(info, dict) or info.get("format") != _FORMAT_NAME or "sha256" not in info:
        raise ModelError(
            f"{json_file}: not an emoclassic model card (no 'format'/'sha256'); restore the "
            f".json written with {model_file.name} or re-create the model with `emoclassic fit`"
        )
    if int(info.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelError(
            f"{json_file}: model card format {info.get('format_version')} is newer than this "
            f"emoclassic reads ({FORMAT_VERSION}); upgrade emoclassic "
            f"(it was written by emoclassic {info.get('versions', {}).get('emoclassic')})"
        )
    return info


def inspect_model(path: str | os.PathLike) -> dict:
    """Read and verify a model's card and sha256 without loading (running) the .joblib.

    Returns the card plus ``model_path``, ``card_path``, ``sha256_ok`` and
    ``version_notes`` (differences from the running environment).
    """
    model_file = _model_file(path)
    if not model_file.is_file():
        raise ModelError(
            f"model file not found: {shown_path(model_file)}; give the .joblib written by "
            "`emoclassic fit`"
        )
    json_file = card_path(model_file)
    if not json_file.is_file():
        raise ModelError(
            f"{model_file}: its model card {json_file.name} is missing; without it the file cannot "
            f"be checked (restore the .json written with it)"
        )
    info = _read_card(json_file, model_file)
    info.update(_paths_of(model_file, json_file))
    info["sha256_ok"] = file_sha256(model_file) == info["sha256"]
    info["version_notes"] = _version_notes(info.get("versions") or {})
    return info


def _version_notes(saved: dict) -> list[tuple[str, str | None, str | None]]:
    """``(package, saved, installed)`` for every tracked package whose version differs."""
    now = versions()
    notes = []
    for key, old in saved.items():
        new = now.get(key)
        if key in now and old != new:
            notes.append((key, old, new))
    return notes


def _feature_notes(saved: Any, estimator: Any, name: str) -> list[str]:
    """One line per feature block whose configuration now differs from the one in the card.

    A block's configuration includes the version of its feature definition (pooled features'
    ``definition``) and the identity of external weights; when an upgrade changes either, the
    loaded model reads features other than those it was fitted on, which nothing else would
    tell the user.
    """
    if not isinstance(saved, list):
        return []
    dump = partial(json.dumps, sort_keys=True, default=str)
    before = [json.loads(dump(c)) for c in saved if isinstance(c, dict)]
    seen = {dump(c) for c in before}
    notes = []
    for now in _unique([_extractor_config(ex) for ex in _feature_blocks(estimator)]):
        now = json.loads(dump(now))
        if dump(now) in seen:
            continue
        same_class = [c for c in before if c.get("class") == now.get("class")]
        if not same_class:
            continue
        old = max(same_class, key=lambda c: sum(c.get(k) == v for k, v in now.items()))
        diff = sorted(k for k in set(old) | set(now) if old.get(k) != now.get(k))
        def _v(config: dict, key: str) -> str:
            return repr(config[key]) if key in config else "unset"

        shown = ", ".join(f"{k} {_v(old, k)} -> {_v(now, k)}" for k in diff[:3])
        notes.append(f"{name}: its {now.get('class')} features were computed differently when "
                     f"it was fitted ({shown}); predictions use today's features: re-fit it "
                     "with `emoclassic fit` for the figures it was measured with")
    return notes


def load_model(path: str | os.PathLike, *, trust: bool = False) -> tuple[Any, dict]:
    """Load a model saved by :func:`save_model` after checking its model card.

    **Loading a .joblib runs code**: only load model files from a source you trust.

    Checks, in order: the file exists; its card exists (else refused unless ``trust``);
    the sha256 matches (else refused: the file was altered or is corrupt); the scikit-learn
    major.minor matches (else refused unless ``trust``, then a warning); other version
    differences are warnings (in ``info["warnings"]`` and the log). Returns
    ``(estimator, info)`` where ``info`` is the card (or a stub when trusted without one).
    """
    import joblib

    model_file = _model_file(path)
    if not model_file.exists():
        raise ModelError(
            f"model file not found: {shown_path(model_file)}; give the .joblib written by "
            "`emoclassic fit`"
        )
    if not model_file.is_file():
        raise ModelError(f"{model_file} is a folder, not a model file; give the .joblib file")
    json_file = card_path(model_file)
    warnings_out: list[str] = []

    if json_file.is_file():
        info = _read_card(json_file, model_file)
        digest = file_sha256(model_file)
        if digest != info["sha256"]:
            raise ModelError(
                f"{model_file}: sha256 {digest[:12]}... does not match its model card "
                f"({str(info['sha256'])[:12]}...): the file was altered or is corrupt; "
                "re-copy it or re-create it with `emoclassic fit`"
            )
        saved_versions = info.get("versions") or {}
        now = versions()
        old_sk, new_sk = saved_versions.get("scikit-learn"), now.get("scikit-learn")
        if major_minor(old_sk) != major_minor(new_sk):
            fix = (
                f"pip install 'scikit-learn=={'.'.join(map(str, major_minor(old_sk) or ()))}.*'"
                if major_minor(old_sk)
                else "re-create the model with `emoclassic fit`"
            )
            msg = (
                f"{model_file} was saved with scikit-learn {old_sk}, this is {new_sk}; "
                f"pickles are not compatible across scikit-learn releases: {fix}, "
                "or re-fit the model"
            )
            if not trust:
                raise ModelError(msg + " (or pass --trust / trust=True to try anyway)")
            warnings_out.append(msg)
        for key, old, new in _version_notes(saved_versions):
            if key != "scikit-learn":
                warnings_out.append(
                    f"{model_file.name} was saved with {key} {old}, this is {new}"
                )
    else:
        if not trust:
            raise ModelError(
                f"{model_file}: its model card {json_file.name} is missing, so the file cannot be "
                "checked, and loading a .joblib runs code; restore the .json written with it, "
                "or pass --trust (trust=True) if you trust where the file came from"
            )
        warnings_out.append(
            f"{model_file.name}: loading without a model card (trusted); nothing was checked"
        )
        info = {"format": _FORMAT_NAME, "trusted_without_card": True,
                "trusted_without_manifest": True,  # the old key (removed in 0.3)
                "spec": None,
                "modalities": None, "labels": None, "speaker_normalization": False}

    try:
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            estimator = joblib.load(model_file)
        for w in caught:
            if "Version" in type(w.message).__name__ or "version" in str(w.message).lower():
                warnings_out.append(str(w.message).splitlines()[0])
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - unpickling can fail in countless ways
        raise ModelError(
            f"{model_file}: cannot be loaded, it is truncated or corrupt "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}); "
            "re-copy it or re-create it with `emoclassic fit`"
        ) from exc
    if not hasattr(estimator, "predict"):
        raise ModelError(
            f"{model_file}: holds a {type(estimator).__name__}, not a model; give a .joblib "
            "written by `emoclassic fit`"
        )
    with contextlib.suppress(Exception):  # a note, never a reason not to load
        warnings_out.extend(_feature_notes(info.get("features"), estimator, model_file.name))
    if info.get("labels") is None:
        info["labels"] = _labels(estimator)
    if info.get("modalities") is None:
        info["modalities"] = _spec_modalities(None, find_extractors(estimator))
    if find_speaker_normalizers(estimator):
        info["speaker_normalization"] = True
    for key, value in adaptation_summary(estimator).items():  # cards before 0.2 lack them
        info.setdefault(key, value)
    for msg in warnings_out:
        logger.warning("%s", msg)
    info["warnings"] = warnings_out
    info.update(_paths_of(model_file, json_file if json_file.is_file() else None))
    return estimator, info
