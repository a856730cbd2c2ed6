"""Speaker-independent, nested cross-validation of a spec; fitting and scoring final models.

The honest protocol is the default:

- outer folds never share a group (speaker): ``group`` = StratifiedGroupKFold,
  ``groupkfold`` = GroupKFold, ``logo`` = leave one group out; ``split`` = the corpus's own
  train/dev/test (tune on train with dev as the single validation fold, refit on train+dev,
  report on test); ``stratified`` ignores groups and is only used when asked for, loudly;
- the grid search runs inside each outer training fold, with grouped inner folds, and the
  outer test fold is only ever predicted once, by the refitted best model;
- features are extracted once for the whole manifest before any fold (the extractors are
  stateless) and then served from memory, so no fold or candidate re-extracts anything;
  items that fail to extract are dropped and listed in the report;
- every seed is fixed.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    LeaveOneGroupOut,
    PredefinedSplit,
    StratifiedGroupKFold,
    StratifiedKFold,
)

from .._versions import versions
from ..exceptions import ConfigError, DataError
from ..features import BaseExtractor, FeatureStore, extract, resolve_store
from ._metrics import chance_metrics, compute_metrics

logger = logging.getLogger(__name__)

__all__ = ["fit_final", "run_cv", "score_model", "warm_cache"]

#: column that holds the labels
LABEL = "label"


class NoGroupsWarning(UserWarning):
    """Folds are not grouped by speaker: scores are speaker-dependent and optimistic."""


# --------------------------------------------------------------------------- memory store
class _MemoryStore(FeatureStore):
    """The feature store with an in-memory layer: what a CV reads thousands of times.

    Shared, not copied, by ``clone`` (deepcopy returns the same object), so every fold and
    candidate in this process reads one table; joblib workers receive the block matrices.
    """

    def __init__(self, backing: Any = None, table: dict | None = None):
        self.backing = backing
        self._disk = resolve_store(backing)
        self.root = self._disk.root if self._disk is not None else None
        self.table: dict[str, np.ndarray] = table if table is not None else {}
        #: extractor config -> (row id -> row, matrix): whole blocks, for _TableLookup
        self.blocks: dict[str, tuple[dict[str, int], np.ndarray]] = {}
        self.hits = self.misses = self.writes = 0

    def __repr__(self) -> str:
        return f"_MemoryStore({self.backing!r}, {len(self.table)} entries)"

    def __reduce__(self):
        # workers get the whole-block tables (numpy arrays joblib can memory-map), not the
        # per-item table: the folds read blocks; a miss falls back to the disk store. On a
        # Dask cluster the tables are broadcast to every worker once and tasks carry only
        # their key (otherwise every grid-search fit task would ship the whole table).
        key = self._broadcast_key()
        if key is not None:
            return (_MemoryStore, (self.backing,), {"blocks_key": key})
        return (_MemoryStore, (self.backing,), {"blocks": self.blocks})

    def __setstate__(self, state):
        if "blocks_key" in state:
            self.blocks = _worker_blocks(state["blocks_key"])
        else:
            self.blocks = state.get("blocks", {})

    def _broadcast_key(self) -> str | None:
        """The key of this store's block tables on every Dask worker (None off a cluster)."""
        from ..parallel import distributed_active

        if not self.blocks or not distributed_active():
            return None
        from joblib.parallel import get_active_backend

        client = getattr(get_active_backend()[0], "client", None)
        if client is None:
            return None
        state = self.__dict__.setdefault("_broadcast", {})
        # re-broadcast when blocks were added since (a key per set of blocks and client)
        token = (id(client), tuple(sorted(self.blocks)))
        if state.get("token") != token:
            future = client.scatter([dict(self.blocks)], broadcast=True, hash=False)[0]
            state.update(token=token, future=future)  # the future keeps the data alive
        return state["future"].key


    def __deepcopy__(self, memo):
        return self

    def __contains__(self, key: str) -> bool:
        return key in self.table or (self._disk is not None and key in self._disk)

    def get(self, key: str) -> np.ndarray | None:
        arr = self.table.get(key)
        if arr is None and self._disk is not None:
            arr = self._disk.get(key)
            if arr is not None:
                self.table[key] = arr
        if arr is None:
            self.misses += 1
        else:
            self.hits += 1
        return arr

    def put(self, key: str, array: np.ndarray) -> None:
        self.table[key] = np.ascontiguousarray(array, dtype=np.float32)
        if self._disk is not None:
            self._disk.put(key, array)
        self.writes += 1

    def __len__(self) -> int:
        return len(self.table)

    def clear(self) -> None:
        self.table.clear()


def _worker_blocks(key: str) -> dict:
    """The broadcast block tables on this Dask worker (or via the client, off a worker)."""
    from distributed import get_worker

    try:
        return get_worker().data[key]
    except (ValueError, KeyError):  # not on a worker, or the data moved: ask the scheduler
        from distributed import Future, get_client
        from joblib.parallel import get_active_backend

        client = getattr(get_active_backend()[0], "client", None) or get_client()
        return Future(key, client=client).result()


def _walk_estimators(obj, seen: set[int] | None = None):
    """Every estimator reachable from ``obj``, fitted parts included."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, BaseEstimator):
        yield obj
        children = list(vars(obj).values())
    elif isinstance(obj, (list, tuple)):
        children = list(obj)
    elif isinstance(obj, dict):
        children = list(obj.values())
    else:
        return
    for child in children:
        if isinstance(child, (BaseEstimator, list, tuple, dict)):
            yield from _walk_estimators(child, seen)


def _release_memory_store(estimator) -> None:
    """Point every extractor back at the real cache (the fitted model must not carry RAM)."""
    for est in _walk_estimators(estimator):
        if isinstance(est, BaseExtractor) and isinstance(getattr(est, "cache", None), _MemoryStore):
            est.cache = est.cache.backing


class _TableLookup(BaseEstimator):
    """A block's extractor during CV: rows of the matrix extracted up front, by row id.

    Reading a feature store still costs a cache key (and a file ``stat``) per item and
    transform; a CV transforms the same items hundreds of times, so each block is looked up in
    the whole-manifest matrix that :func:`warm_cache` built instead. Rows or settings not in
    the table fall back to the real extractor. Parameters the lookup does not have are
    forwarded to the extractor, so grid paths stay those of the real pipeline.
    """

    def __init__(self, extractor=None, store=None):
        self.extractor = extractor
        self.store = store

    def set_params(self, **params):
        own = {k: v for k, v in params.items() if k in ("extractor", "store") or
               k.startswith("extractor__")}  # fmt: skip
        rest = {k: v for k, v in params.items() if k not in own}
        if own:
            super().set_params(**own)
        if rest:
            self.extractor.set_params(**rest)
        return self

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def transform(self, X):
        entry = getattr(self.store, "blocks", {}).get(_config_key(self.extractor))
        if entry is not None and isinstance(X, pd.DataFrame) and "id" in X.columns:
            index, matrix = entry
            rows = [index.get(i) for i in X["id"].astype(str)]
            if None not in rows:
                return matrix[rows]
        return self.extractor.transform(X)

    def fit_transform(self, X, y=None, **fit_params):
        return self.transform(X)

    def get_feature_names_out(self, input_features=None):
        return self.extractor.get_feature_names_out(input_features)


def _with_lookups(pipe, store):
    """Swap every stateless extractor of ``pipe`` for a :class:`_TableLookup` (in place)."""
    if not getattr(store, "blocks", None):
        return pipe
    updates = {}
    for key, value in pipe.get_params(deep=True).items():
        if isinstance(value, BaseExtractor) and key.rsplit("__", 1)[-1] in (
            "extract",
            "transformer",
        ):
            updates[key] = _TableLookup(value, store)
    return pipe.set_params(**updates) if updates else pipe


# --------------------------------------------------------------------------- extraction
def _block_extractors(pipeline) -> list[tuple[str, BaseExtractor]]:
    """(block name, extractor) for each stateless extractor of an unfitted pipeline."""
    out = []
    for key, value in pipeline.get_params(deep=True).items():
        if not isinstance(value, BaseExtractor):
            continue
        parts = key.split("__")
        if parts[-1] == "transformer":
            parts = parts[:-1]
        block = parts[-2] if len(parts) >= 2 and parts[-1] == "extract" else key
        out.append((block, value))
    return out


def _config_key(ext: BaseExtractor) -> str:
    """One in-memory table per distinct output: ``_config()`` plus every non-runtime parameter.

    ``_config()`` alone is the *disk* key's config, which may leave out what the item keys
    already hold (a SentenceEmbedder's context window), so two blocks differing only in
    context would otherwise share one table.
    """
    from ..features._base import RUNTIME_PARAMS
    from ..features._store import _jsonable

    params = {
        k: v
        for k, v in ext.get_params(deep=False).items()
        if k not in RUNTIME_PARAMS and k not in ("device", "n_threads")
    }
    return json.dumps(_jsonable({**ext._config(), **params}), sort_keys=True)


def warm_cache(
    spec, manifest: pd.DataFrame, *, cache: Any = None, n_jobs: int = 1, progress: bool = False
) -> tuple[Any, list[dict[str, str]], float]:
    """Extract every block (and every extractor setting the grid tries) once, up front.

    Returns the store the folds should use (an in-memory layer over ``cache``), the
    failures (``{"id", "block", "message"}``) and the seconds it took.
    """
    from ..fusion import build_pipeline, friendly_candidates, translate_params

    t0 = time.perf_counter()
    store = cache if isinstance(cache, _MemoryStore) else _MemoryStore(cache)
    base = build_pipeline(spec, cache=store, n_jobs=n_jobs)
    done: set[str] = set()
    failures: list[dict[str, str]] = []
    subs: dict[str, dict] = {}
    for cand in friendly_candidates(spec):
        sub = {k: v for k, v in cand.items() if _is_extractor_key(k)}
        if sub:
            subs[_canonical(sub)] = sub
    variants = [base] + [clone(base).set_params(**translate_params(spec, s)) for s in subs.values()]
    for pipe in variants:
        for block, ext in _block_extractors(pipe):
            key = _config_key(ext)
            if key in done or key in store.blocks:
                continue
            done.add(key)
            ext = clone(ext)
            if progress and "progress" in ext.get_params(deep=False):
                ext.set_params(progress=True)
            res = extract(ext, manifest)
            failures += [{"id": i, "block": block, "message": m} for i, m in res.failures]
            index = {str(i): r for r, i in enumerate(res.ids)}
            store.blocks[key] = (index, np.ascontiguousarray(res.features))
    return store, failures, time.perf_counter() - t0


def _is_extractor_key(key: str) -> bool:
    """A grid key that changes an extractor's settings (so its features must be warmed)."""
    if "__" in key:
        return "__extract__" in key
    parts = key.split(".")
    return (
        len(parts) == 3 and parts[0] == "features" and parts[2] not in ("pca", "select_k", "weight")
    )


# --------------------------------------------------------------------------- data & groups
#: manifest columns the feature blocks read, which a bare DataFrame may lack
_OPTIONAL_INPUT_COLUMNS = ("path", "text", "dialogue_id", "utterance_index", "start", "end")


def _prepare(manifest: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    if not isinstance(manifest, pd.DataFrame):
        raise DataError(f"expected a manifest DataFrame; got {type(manifest).__name__}")
    if LABEL not in manifest.columns:
        raise DataError("the manifest has no 'label' column; evaluation needs labelled rows")
    if "id" not in manifest.columns:
        raise DataError("the manifest has no 'id' column; give every row an id")
    dup = manifest["id"].astype(str).duplicated()
    if dup.any():
        raise DataError(
            f"row id {manifest['id'][dup].iloc[0]!r} appears more than once; ids must be unique"
        )
    labels = manifest[LABEL]
    missing = labels.isna() | (labels.astype(str).str.strip() == "")
    if missing.any():
        logger.warning("%d row(s) have no label and are left out", int(missing.sum()))
    df = manifest.loc[~missing].reset_index(drop=True)
    df[LABEL] = df[LABEL].astype(str)
    for column in _OPTIONAL_INPUT_COLUMNS:  # blocks select these by name; absent means empty
        if column not in df.columns:
            df[column] = None
    if df[LABEL].nunique() < 2:
        raise DataError("evaluation needs at least two classes in the 'label' column")
    return df, int(missing.sum())


def _groups(df: pd.DataFrame, column: str) -> np.ndarray | None:
    """Group ids (None when the column is absent or empty); a missing id is its own group."""
    if column not in df.columns:
        return None
    values = df[column]
    missing = values.isna() | (values.astype(str).str.strip() == "")
    if missing.all():
        return None
    if missing.any():
        logger.warning(
            "%d row(s) have no %r; each is treated as its own group (it may share a speaker "
            "with other rows: fill the column for a strictly speaker-independent split)",
            int(missing.sum()),
            column,
        )
    out = values.astype(str).to_numpy(dtype=object)
    out[missing.to_numpy()] = [f"<row {i}>" for i in np.flatnonzero(missing.to_numpy())]
    return out


def _loud(message: str) -> None:
    bar = "!" * 20
    logger.warning("%s %s %s", bar, message, bar)
    warnings.warn(message, NoGroupsWarning, stacklevel=3)


def _outer_splits(scheme, y, groups, df, n_splits, column, random_state):
    """[(train_idx, test_idx)] and, for ``split``, the dev mask inside each train part."""
    idx = np.arange(len(y))
    if scheme in ("group", "groupkfold", "logo"):
        if groups is None:
            raise ConfigError(
                f"cv scheme {scheme!r} needs the group column {column!r}, which is "
                f"{'absent' if column not in df.columns else 'empty'}; pass groups=COLUMN "
                "(--groups) naming the speaker column, or choose scheme='stratified' explicitly "
                "(speaker-dependent folds: optimistic scores)"
            )
        n_groups = len(set(groups))
        if n_groups < 2:
            raise DataError(f"cv: only one {column!r} group; cross-validation needs several")
        if scheme == "logo":
            return list(LeaveOneGroupOut().split(idx, y, groups)), None
        n = min(n_splits, n_groups)
        if n < n_splits:
            logger.warning("cv: %d groups, so %d folds instead of %d", n_groups, n, n_splits)
        if scheme == "groupkfold":
            return list(GroupKFold(n).split(idx, y, groups)), None
        splitter = StratifiedGroupKFold(n, shuffle=True, random_state=random_state)
        return list(splitter.split(idx, y, groups)), None
    if scheme == "stratified":
        if groups is None:
            _loud(
                f"cv scheme 'stratified' with no group column {column!r}: the same speakers "
                "are likely in train and test folds, so scores are optimistic"
            )
        else:
            _loud(
                f"cv scheme 'stratified' ignores the group column {column!r}: the same speakers "
                "sit in train and test folds, so scores are speaker-dependent and optimistic"
            )
        _, counts = np.unique(y, return_counts=True)
        n = int(max(2, min(n_splits, counts.min())))
        return list(StratifiedKFold(n, shuffle=True, random_state=random_state).split(idx, y)), None
    if scheme == "split":
        if "split" not in df.columns:
            raise ConfigError(
                "cv scheme 'split' needs a 'split' column with train/dev/test values; use "
                "scheme='group' instead"
            )
        split = df["split"].astype(str).str.lower().to_numpy()
        train, dev, test = (np.flatnonzero(split == s) for s in ("train", "dev", "test"))
        if len(train) == 0 or len(test) == 0:
            raise ConfigError(
                f"cv scheme 'split' needs train and test rows; found {len(train)} train, "
                f"{len(dev)} dev, {len(test)} test"
            )
        fit_rows = np.concatenate([train, dev])
        return [(np.sort(fit_rows), test)], np.isin(np.sort(fit_rows), dev)
    raise ConfigError(f"unknown cv scheme {scheme!r}")


def _inner_cv(inner: str, n_splits: int, y, groups, dev_mask, random_state):
    """The inner splitter for one training part and whether it wants ``groups``."""
    if dev_mask is not None and dev_mask.any():
        return PredefinedSplit(np.where(dev_mask, 0, -1)), False
    if dev_mask is not None:
        logger.warning("cv: no dev rows; tuning with grouped folds inside train instead")
    if inner in ("group", "groupkfold", "logo") and groups is not None:
        n_groups = len(set(groups))
        if n_groups < 2:
            raise DataError("cv: a training fold holds a single group; use fewer outer folds")
        if inner == "logo":
            return LeaveOneGroupOut(), True
        n = min(n_splits, n_groups)
        if inner == "groupkfold":
            return GroupKFold(n), True
        return StratifiedGroupKFold(n, shuffle=True, random_state=random_state), True
    if inner != "stratified":
        _loud("inner cv: no groups available; tuning folds are stratified, not by speaker")
    _, counts = np.unique(y, return_counts=True)
    n = int(max(2, min(n_splits, counts.min())))
    return StratifiedKFold(n, shuffle=True, random_state=random_state), False


# --------------------------------------------------------------------------- JSON helpers
def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ma.MaskedArray):
        return _json_safe(value.filled(np.nan).tolist() if value.dtype.kind == "f"
                          else [None if m else v for v, m in
                                zip(value.data.tolist(), np.ma.getmaskarray(value).tolist(),
                                    strict=True)])  # fmt: skip
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _cv_results(gs: GridSearchCV | None) -> dict[str, Any] | None:
    if gs is None:
        return None
    res = {k: v for k, v in gs.cv_results_.items() if k != "params" and not k.startswith("param_")}
    return _json_safe(res)


def _canonical(params: dict) -> str:
    return json.dumps(_json_safe(params), sort_keys=True)


# --------------------------------------------------------------------------- evaluation core
def _fit_one(
    spec, store, X, y, groups, dev_mask, inner, inner_splits, n_jobs, random_state, *,
    lookups: bool = True,
):  # fmt: skip
    """Tune (if the grid has several candidates) and fit on one training part.

    ``lookups=False`` returns a model with the real extractors (to be saved); the search
    itself always reads the up-front feature tables.
    """
    from ..fusion import build_pipeline, friendly_candidates, param_grid, translate_params

    candidates = friendly_candidates(spec)
    if len(candidates) == 1:
        pipe = build_pipeline(spec, cache=store)
        if lookups:
            _with_lookups(pipe, store)
        pipe.set_params(**translate_params(spec, candidates[0]))
        return pipe.fit(X, y), candidates[0], None
    cv, wants_groups = _inner_cv(inner, inner_splits, y, groups, dev_mask, random_state)
    gs = GridSearchCV(
        _with_lookups(build_pipeline(spec, cache=store), store),
        param_grid(spec),
        scoring=spec.scoring,
        cv=cv,
        n_jobs=n_jobs,
        refit=lookups,
        error_score="raise",
    )
    gs.fit(X, y, groups=groups if wants_groups else None)
    best = candidates[gs.best_index_]
    if lookups:
        return gs.best_estimator_, best, gs
    final = build_pipeline(spec, cache=store).set_params(**translate_params(spec, best))
    return final.fit(X, y), best, gs


def _one_blas_thread():
    """Fits on cached features run with one BLAS thread.

    The models are small; a multi-threaded OpenBLAS spends more time waking its threads than
    computing (30x slower L-BFGS fits were measured on a busy 2-core machine). Parallelism
    comes from ``n_jobs`` (joblib limits BLAS threads in its workers the same way).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _evaluate(spec, df, y, groups, splits, dev_mask, **kwargs):
    with _one_blas_thread():
        return _evaluate_folds(spec, df, y, groups, splits, dev_mask, **kwargs)


def _evaluate_folds(spec, df, y, groups, splits, dev_mask, *, store, inner, inner_splits,
                    n_jobs, random_state, progress, labels):  # fmt: skip
    from tqdm.auto import tqdm

    from ..fusion import attention_weights

    y_pred = np.empty(len(y), dtype=object)
    fold_of = np.full(len(y), -1)
    folds = []
    grids = []
    for k, (train, test) in enumerate(
        tqdm(splits, desc=f"cv {spec.name}", disable=not progress, leave=False)
    ):
        t0 = time.perf_counter()
        g_train = groups[train] if groups is not None else None
        est, best, gs = _fit_one(
            spec,
            store,
            df.iloc[train],
            y[train],
            g_train,
            dev_mask,
            inner,
            inner_splits,
            n_jobs,
            random_state,
        )
        pred = np.asarray(est.predict(df.iloc[test]), dtype=object)
        y_pred[test] = pred
        fold_of[test] = k
        m = compute_metrics(y[test], pred, labels=labels)["metrics"]
        folds.append({
            "fold": k,
            "metrics": m,
            "best_params": _json_safe(best),
            "best_score": _json_safe(gs.best_score_) if gs is not None else None,
            "n_train": int(len(train)),
            "n_test": int(len(test)),
            "train_groups": sorted(set(map(str, g_train))) if g_train is not None else [],
            "test_groups": sorted(set(map(str, groups[test]))) if groups is not None else [],
            "seconds": round(time.perf_counter() - t0, 3),
        })  # fmt: skip
        grids.append(_cv_results(gs))
        att = attention_weights(est, df.iloc[test])
        if att is not None:  # attention fusion: which modality each prediction leaned on
            folds[-1]["attention"] = {c: round(float(att[c].mean()), 4) for c in att.columns}
            folds[-1]["_attention_rows"] = (test, att.to_numpy(), list(att.columns))
    return y_pred, fold_of, folds, grids


def _attention_report(folds: list[dict], y, n: int) -> tuple[dict | None, np.ndarray | None]:
    """Out-of-fold attention weights (popped from ``folds``): summary and the (n, blocks) rows."""
    parts = [f.pop("_attention_rows") for f in folds if "_attention_rows" in f]
    if not parts:
        return None, None
    blocks = parts[0][2]
    rows = np.full((n, len(blocks)), np.nan)
    for test, a, _ in parts:
        rows[test] = a
    seen = ~np.isnan(rows).any(axis=1)
    per_class = {
        str(c): {b: round(float(rows[seen & (y == c), j].mean()), 4) for j, b in enumerate(blocks)}
        for c in sorted(set(y[seen]))
    }
    summary = {
        "blocks": blocks,
        "mean": {b: round(float(rows[seen, j].mean()), 4) for j, b in enumerate(blocks)},
        "per_class": per_class,
        "n": int(seen.sum()),
    }
    return summary, rows


def _majority(y, splits, labels) -> dict[str, Any]:
    pred = np.empty(len(y), dtype=object)
    covered = np.zeros(len(y), dtype=bool)
    for train, test in splits:
        counts = Counter(y[train])
        top = max(sorted(counts), key=lambda c: counts[c])
        pred[test] = top
        covered[test] = True
    return compute_metrics(y[covered], pred[covered], labels=labels)["metrics"]


def _feature_identities(spec, store) -> dict[str, Any]:
    from ..fusion import build_pipeline

    out: dict[str, Any] = {}
    pipe = build_pipeline(spec, cache=store)
    exts = dict(_block_extractors(pipe))
    for name, block in spec.features.items():
        info: dict[str, Any] = {"type": block["type"], "options": _json_safe(block["options"])}
        ext = exts.get(name)
        if ext is None:
            ext = next((e for _, e in _block_extractors_all(pipe, name)), None)
        if ext is not None:
            info["class"] = type(ext).__name__
            if isinstance(ext, BaseExtractor):
                info["config"] = _json_safe(ext._config())
            for attr in ("model_identity", "weights_info"):
                fn = getattr(ext, attr, None)
                if callable(fn):
                    try:
                        info[attr] = _json_safe(fn())
                    except Exception as exc:  # noqa: BLE001 - identity is informative only
                        info[attr] = f"unavailable: {exc}"
        out[name] = info
    return out


def _block_extractors_all(pipe, block: str):
    """Extractors of ``block`` that are not BaseExtractors (e.g. TF-IDF)."""
    for key, value in pipe.get_params(deep=True).items():
        parts = key.split("__")
        if len(parts) >= 2 and parts[-1] == "extract" and parts[-2] == block:
            yield key, value


def _spec_of(spec):
    from ..spec import PipelineSpec, load_spec

    return spec if isinstance(spec, PipelineSpec) else load_spec(spec)


def _resolve_protocol(spec, scheme, groups):
    scheme = scheme or spec.cv.get("scheme", "group")
    column = groups or spec.cv.get("groups", "speaker")
    from ..spec import CV_SCHEMES

    if scheme not in CV_SCHEMES:
        raise ConfigError(f"unknown cv scheme {scheme!r}; valid: {', '.join(CV_SCHEMES)}")
    inner = spec.cv.get("inner") or ("stratified" if scheme == "stratified" else "group")
    n_splits = int(spec.cv.get("n_splits", 5))
    inner_splits = int(spec.cv.get("inner_splits") or n_splits)
    return scheme, column, inner, n_splits, inner_splits


def _resolve_auto(scheme: str, df: pd.DataFrame) -> str:
    """``auto`` → ``split`` if ``df`` has train and test rows in ``split``, else ``group``."""
    if scheme != "auto":
        return scheme
    if "split" in df.columns:
        split = set(df["split"].dropna().astype(str).str.lower())
        if {"train", "test"} <= split:
            logger.info("cv scheme 'auto': the manifest has train/test splits, so 'split'")
            return "split"
    logger.info("cv scheme 'auto': no train/test split column, so 'group'")
    return "group"


def run_cv(
    spec,
    manifest: pd.DataFrame,
    *,
    scheme: str | None = None,
    groups: str | None = None,
    n_jobs: int = 1,
    ablation: bool = False,
    cache: Any = None,
    progress: bool = False,
    random_state: int = 0,
    backend: str = "local",
    scheduler: str | None = None,
) -> dict[str, Any]:
    """Nested, speaker-independent CV of ``spec`` on ``manifest``: the cv_report content.

    ``scheme`` and ``groups`` override the spec's ``cv.scheme`` and ``cv.groups``; ``n_jobs``
    runs grid candidates and inner folds in parallel; ``ablation=True`` on a spec with several
    modalities also evaluates each modality alone on the same outer folds. ``backend="dask"``
    runs the extraction chunks and the grid's fits on the Dask cluster at ``scheduler`` (or a
    local cluster of ``n_jobs`` workers); the report is the same as with ``"local"``.
    """
    from ..parallel import parallel_backend

    with parallel_backend(backend, scheduler=scheduler, n_workers=n_jobs):
        return _run_cv(spec, manifest, scheme=scheme, groups=groups, n_jobs=n_jobs,
                       ablation=ablation, cache=cache, progress=progress,
                       random_state=random_state)  # fmt: skip


def _run_cv(spec, manifest, *, scheme, groups, n_jobs, ablation, cache, progress,
            random_state) -> dict[str, Any]:  # fmt: skip
    t_start = time.perf_counter()
    spec = _spec_of(spec)
    scheme, column, inner, n_splits, inner_splits = _resolve_protocol(spec, scheme, groups)
    df, n_unlabelled = _prepare(manifest)
    n_input = len(manifest)
    scheme = _resolve_auto(scheme, df)

    store, failed, t_extract = warm_cache(spec, df, cache=cache, n_jobs=n_jobs, progress=progress)
    ablation_specs: dict[str, Any] = {}
    if ablation and len(spec.modalities()) > 1:
        for mod in spec.modalities():
            ablation_specs[mod] = spec.restrict(mod)
            _, more, t = warm_cache(ablation_specs[mod], df, cache=store, n_jobs=n_jobs)
            failed += [f for f in more if f not in failed]
            t_extract += t
    elif ablation:
        logger.warning("ablation: %s uses one modality only; nothing to compare", spec.name)
    bad = {f["id"] for f in failed}
    if bad:
        logger.warning("%d item(s) failed to extract and are left out", len(bad))
        df = df.loc[~df["id"].astype(str).isin(bad)].reset_index(drop=True)

    y = df[LABEL].to_numpy(dtype=object)
    labels = sorted(set(y))
    g = _groups(df, column)
    splits, dev_mask = _outer_splits(scheme, y, g, df, n_splits, column, random_state)
    for train, test in splits:
        if (
            g is not None
            and scheme in ("group", "groupkfold", "logo")
            and (set(g[train]) & set(g[test]))
        ):
            raise AssertionError("internal error: a group is in both train and test")

    t_cv = time.perf_counter()
    common = dict(
        store=store,
        inner=inner,
        inner_splits=inner_splits,
        n_jobs=n_jobs,
        random_state=random_state,
        progress=progress,
        labels=labels,
    )
    y_pred, fold_of, folds, grids = _evaluate(spec, df, y, g, splits, dev_mask, **common)
    attention, attention_rows = _attention_report(folds, y, len(y))
    covered = fold_of >= 0
    scored = compute_metrics(y[covered], y_pred[covered], labels=labels)
    ablation_out: dict[str, Any] | None = None
    if ablation_specs:
        ablation_out = {}
        for mod, rspec in ablation_specs.items():
            p, fo, f, _ = _evaluate(rspec, df, y, g, splits, dev_mask, **common)
            _attention_report(f, y, len(y))  # per-modality runs: one block, nothing to show
            c = fo >= 0
            ablation_out[mod] = {
                "metrics": compute_metrics(y[c], p[c], labels=labels)["metrics"],
                "best_params": _most_frequent([x["best_params"] for x in f]),
                "spec": rspec.to_dict(),
            }
        ablation_out["fused"] = {
            "metrics": scored["metrics"],
            "best_params": _most_frequent([f["best_params"] for f in folds]),
        }
    t_end = time.perf_counter()

    from ..fusion import friendly_candidates

    report: dict[str, Any] = {
        "name": spec.name,
        "metrics": scored["metrics"],
        "per_class": scored["per_class"],
        "confusion": scored["confusion"],
        "baselines": {
            "majority": _majority(y, splits, labels),
            "chance": chance_metrics(y[covered], labels=labels),
        },
        "folds": folds,
        "best_params": _most_frequent([f["best_params"] for f in folds]),
        "grid": {
            "candidates": _json_safe(friendly_candidates(spec)),
            "scoring": spec.scoring,
            "folds": grids,
        },
        "protocol": {
            "scheme": scheme,
            "groups": column,
            "n_outer_folds": len(splits),
            "inner": "split (dev)"
            if scheme == "split" and dev_mask is not None and dev_mask.any()
            else inner,  # fmt: skip
            "inner_splits": inner_splits,
            "speaker_normalization": _uses_speaker_norm(spec),
            "scoring": spec.scoring,
            "random_state": random_state,
        },
        "data": {
            "n_items": int(len(df)),
            "n_input": int(n_input),
            "n_unlabelled": n_unlabelled,
            "classes": {str(k): int(v) for k, v in sorted(Counter(y).items())},
            "groups": (
                {str(k): int(v) for k, v in sorted(Counter(g).items())} if g is not None else {}
            ),  # fmt: skip
            "group_column": column,
            "failed": failed,
            "n_failed": len(bad),
        },
        "predictions": [
            {"id": str(i), "label": str(t), "predicted": str(p), "fold": int(f)}
            for i, t, p, f in zip(df["id"], y, y_pred, fold_of, strict=True)
            if f >= 0
        ],
        "spec": _json_safe(spec.to_dict()),
        "features": _feature_identities(spec, store),
        "timing": {
            "extraction": round(t_extract, 3),
            "cv": round(t_end - t_cv, 3),
            "total": round(t_end - t_start, 3),
        },
        "versions": versions(),
    }
    if ablation_out is not None:
        report["ablation"] = ablation_out
    if attention is not None:
        report["attention"] = attention
        for row, i in zip(report["predictions"], np.flatnonzero(fold_of >= 0), strict=True):
            row["attention"] = {
                b: round(float(attention_rows[i, j]), 4) for j, b in enumerate(attention["blocks"])
            }
    return report


def _uses_speaker_norm(spec) -> bool:
    if spec.speaker_normalization:
        return True
    return any(bool(b.get("options", {}).get("speaker_normalization")) for b in
               spec.features.values())  # fmt: skip


def _most_frequent(params: list[dict]) -> dict:
    if not params:
        return {}
    keys = [_canonical(p) for p in params]
    counts = Counter(keys)
    best = max(keys, key=lambda k: (counts[k], -keys.index(k)))
    return json.loads(best)


# --------------------------------------------------------------------------- final model
def fit_final(
    spec,
    manifest: pd.DataFrame,
    *,
    params: dict | None = None,
    cache: Any = None,
    n_jobs: int = 1,
    random_state: int = 0,
    backend: str = "local",
    scheduler: str | None = None,
    progress: bool = False,
):
    """The model to save: tuned on all the data with the spec's inner scheme, then refitted.

    ``params`` (friendly keys or scikit-learn paths, e.g. a cv_report's ``best_params``)
    skip the search. With ``cv.scheme = "split"`` only train and dev rows are used (dev is the
    validation fold), so the test split stays unseen. The returned estimator carries
    ``emoclassic_fit_`` (best params, rows used, failures). ``backend``/``scheduler``: as
    in :func:`run_cv` (the final refit runs here); ``progress`` draws the extraction's bars.
    """
    from ..parallel import parallel_backend

    with parallel_backend(backend, scheduler=scheduler, n_workers=n_jobs):
        return _fit_final(spec, manifest, params=params, cache=cache, n_jobs=n_jobs,
                          random_state=random_state, progress=progress)  # fmt: skip


def _fit_final(spec, manifest, *, params, cache, n_jobs, random_state, progress=False):
    from ..fusion import build_pipeline, translate_params

    spec = _spec_of(spec)
    scheme, column, inner, _, inner_splits = _resolve_protocol(spec, None, None)
    df, _ = _prepare(manifest)
    scheme = _resolve_auto(scheme, df)
    store, failed, _ = warm_cache(spec, df, cache=cache, n_jobs=n_jobs, progress=progress)
    bad = {f["id"] for f in failed}
    if bad:
        logger.warning("%d item(s) failed to extract and are left out", len(bad))
        df = df.loc[~df["id"].astype(str).isin(bad)].reset_index(drop=True)
    dev_mask = None
    if scheme == "split" and "split" in df.columns:
        split = df["split"].astype(str).str.lower()
        keep = split.isin(["train", "dev"]).to_numpy()
        if keep.any():
            df = df.loc[keep].reset_index(drop=True)
            dev_mask = (df["split"].astype(str).str.lower() == "dev").to_numpy()
    y = df[LABEL].to_numpy(dtype=object)
    g = _groups(df, column)
    if params is not None:
        est = build_pipeline(spec, cache=store)
        est.set_params(**translate_params(spec, dict(params)))
        with _one_blas_thread():
            est.fit(df, y)
        best = dict(params)
    else:
        if g is None and inner != "stratified" and dev_mask is None:
            _loud(f"fit_final: no group column {column!r}; tuning folds are not by speaker")
        with _one_blas_thread():
            est, best, _ = _fit_one(
                spec, store, df, y, g, dev_mask, inner, inner_splits, n_jobs, random_state,
                lookups=False,
            )  # fmt: skip
    _release_memory_store(est)
    est.emoclassic_fit_ = {
        "best_params": _json_safe(best),
        "n_items": int(len(df)),
        "classes": sorted(map(str, set(y))),
        "failed": failed,
        "spec": _json_safe(spec.to_dict()),
    }
    return est


# --------------------------------------------------------------------------- scoring
def _model_extractor_failures(estimator, df: pd.DataFrame) -> list[dict[str, str]]:
    failures: list[dict[str, str]] = []
    seen: set[str] = set()
    for est in _walk_estimators(estimator):
        if not isinstance(est, BaseExtractor):
            continue
        key = _config_key(est) + type(est).__name__
        if key in seen:
            continue
        seen.add(key)
        res = extract(est, df)
        failures += [{"id": i, "block": type(est).__name__, "message": m} for i, m in res.failures]
    return failures


def score_model(
    estimator,
    manifest: pd.DataFrame,
    *,
    split: str | None = None,
    label_map: str | dict | None = "canonical",
) -> dict[str, Any]:
    """Score a fitted model on a labelled manifest (another corpus, or a held-out split).

    When the manifest's labels are not all among the model's ``classes_``, both sides are
    mapped (``"canonical"``: through :func:`emoclassic.data.to_canonical`; a dict: by it) and
    only the shared classes are scored; ``data.dropped_labels`` counts what was left out.
    Returns ``metrics``, ``per_class``, ``confusion``, ``baselines`` and ``data``.
    """
    df, _ = _prepare(manifest)
    if split is not None:
        if "split" not in df.columns:
            raise DataError(f"split={split!r} asked for but the manifest has no 'split' column")
        df = df.loc[df["split"].astype(str).str.lower() == split.lower()].reset_index(drop=True)
        if df.empty:
            raise DataError(f"the manifest has no rows with split {split!r}")
    classes = [str(c) for c in getattr(estimator, "classes_", [])]
    if not classes:
        raise ConfigError("score_model needs a fitted classifier with classes_")
    truth = df[LABEL].astype(str).tolist()
    mapper = _label_mapper(label_map, truth, classes)
    mapped_truth = [mapper(t) for t in truth]
    mapped_classes = sorted({mapper(c) for c in classes})
    keep = np.array([t in set(mapped_classes) for t in mapped_truth], dtype=bool)
    dropped = Counter(t for t, k in zip(truth, keep, strict=True) if not k)
    if dropped:
        logger.warning(
            "score_model: %d row(s) with labels the model does not know are left out: %s",
            sum(dropped.values()),
            dict(dropped),
        )
    df = df.loc[keep].reset_index(drop=True)
    mapped_truth = [t for t, k in zip(mapped_truth, keep, strict=True) if k]
    if df.empty:
        raise DataError(
            f"no row of the manifest has a label the model knows ({', '.join(classes)}); "
            "check label_map"
        )
    failed = _model_extractor_failures(estimator, df)
    bad = {f["id"] for f in failed}
    if bad:
        ok = ~df["id"].astype(str).isin(bad).to_numpy()
        df = df.loc[ok].reset_index(drop=True)
        mapped_truth = [t for t, k in zip(mapped_truth, ok, strict=True) if k]
    t0 = time.perf_counter()
    pred = [mapper(str(p)) for p in estimator.predict(df)]
    seconds = time.perf_counter() - t0
    labels = mapped_classes
    scored = compute_metrics(mapped_truth, pred, labels=labels)
    counts = Counter(mapped_truth)
    top = max(sorted(counts), key=lambda c: counts[c])
    return {
        "metrics": scored["metrics"],
        "per_class": scored["per_class"],
        "confusion": scored["confusion"],
        "baselines": {
            "majority": compute_metrics(mapped_truth, [top] * len(mapped_truth), labels=labels)[
                "metrics"
            ],  # fmt: skip
            "chance": chance_metrics(mapped_truth, labels=labels),
        },
        "data": {
            "n_items": len(mapped_truth),
            "split": split,
            "classes": {str(k): int(v) for k, v in sorted(counts.items())},
            "model_classes": classes,
            "label_map": label_map
            if isinstance(label_map, (str, type(None)))
            else _json_safe(label_map),  # fmt: skip
            "dropped_labels": {str(k): int(v) for k, v in sorted(dropped.items())},
            "failed": failed,
        },
        "predictions": [
            {"id": str(i), "label": t, "predicted": p}
            for i, t, p in zip(df["id"], mapped_truth, pred, strict=True)
        ],
        "timing": {"predict": round(seconds, 3)},
        "versions": versions(),
    }


def _label_mapper(label_map, truth: list[str], classes: list[str]):
    if label_map is None or label_map == "none":
        return lambda s: s
    if isinstance(label_map, dict):
        table = {str(k): str(v) for k, v in label_map.items()}
        return lambda s: table.get(s, s)
    if label_map != "canonical":
        raise ConfigError(f"label_map={label_map!r}; use 'canonical', 'none' or a dict")
    if set(truth) <= set(classes):
        return lambda s: s  # same vocabulary: nothing to map
    try:
        from ..data import to_canonical
    except ImportError:  # pragma: no cover - data is always there in a full install
        return lambda s: s
    return lambda s: to_canonical(s)
