"""The machinery every feature extractor shares: cache look-up, parallel batches, bad items.

An extractor is a stateless scikit-learn transformer: ``fit`` learns nothing, ``transform`` maps
each item (an audio file or segment, a sentence with its context, a waveform row) to one vector.
Subclasses say how to turn ``X`` into items and how to compute one batch of items; this base
class looks each item up in the :class:`FeatureStore`, computes only the misses (in parallel
chunks, each stored as soon as it is done, so an interrupted run keeps its work) and collects
per-item failures instead of dying on the first bad file.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..exceptions import BatchError, ConfigError, EmoclassicError
from ._failure import Failure
from ._result import ExtractionResult
from ._store import FeatureStore, key_prefix, resolve_store

logger = logging.getLogger(__name__)

__all__ = ["BaseExtractor", "Item", "ExtractionResult", "extract"]

#: Where ``extract`` collects how many rows came from the store and how many were computed
#: (a context variable, so subclasses that override ``_transform_all`` need not pass it on).
_STATS: ContextVar[dict | None] = ContextVar("emoclassic_extraction_stats", default=None)

#: Parameters that change how, not what, is computed: never part of a cache key.
RUNTIME_PARAMS = frozenset({"cache", "n_jobs", "on_error", "progress", "batch_size"})


@dataclass(frozen=True)
class Item:
    """One unit of extraction.

    ``key_parts`` identify the input for the cache (None: do not cache, e.g. an in-memory
    waveform without a stable identity); ``payload`` is whatever ``_compute_batch`` needs.
    """

    id: str
    key_parts: tuple | None
    payload: Any = field(default=None, compare=False, repr=False)


def _item_path(item: Item) -> str | None:
    """The audio file an item reads, when it reads one (for failure records)."""
    payload = item.payload
    if isinstance(payload, tuple) and len(payload) >= 2 and payload[0] in ("file", "error"):
        return str(payload[1])
    return None


def _failed_items(items: list[Item], failures: list) -> list[tuple[Item, tuple]]:
    by_id = {it.id: it for it in items}
    return [(by_id.get(f[0], Item(f[0], None)), f) for f in failures]


def _chunks(seq: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _run_chunk(
    extractor: BaseExtractor, chunk: list[tuple[int, Item, str | None]], store: FeatureStore | None
) -> list[tuple[int, np.ndarray | None, Exception | None]]:
    """Compute one chunk of cache misses and store each good result (runs in a worker)."""
    items = [it for _, it, _ in chunk]
    try:
        results = extractor._compute_batch(items)
    except EmoclassicError as exc:  # a batch-level failure: retry item by item to isolate it
        results = [exc] if len(items) == 1 else [extractor._compute_one_safe(it) for it in items]
    out = []
    for (idx, _, key), res in zip(chunk, results, strict=True):
        if isinstance(res, Exception):
            out.append((idx, None, res))
            continue
        vec = np.asarray(res, dtype=np.float32).reshape(-1)
        if store is not None and key is not None:
            store.put(key, vec)
        out.append((idx, vec, None))
    return out


def _for_workers(extractor: BaseExtractor, store: FeatureStore | None):
    """The extractor and store that travel to worker processes or Dask workers.

    A store subclass may hold process-local layers (the CV's in-memory tables): workers get a
    plain :class:`FeatureStore` over the same folder instead (or none), so each task pickles a
    folder name, not matrices. Writes still land where every later run reads them.
    """
    if store is None or type(store) is FeatureStore:
        return extractor, store
    root = getattr(store, "root", None)
    plain = FeatureStore(root) if root is not None else None
    light = copy.copy(extractor)
    if "cache" in vars(light):
        light.cache = plain
    return light, plain


class BaseExtractor(TransformerMixin, BaseEstimator):
    """Base class of stateless, cached, batch-tolerant feature extractors.

    Subclasses implement ``_items(X)``, ``_compute_batch(items)`` (a list with one vector or
    one ``EmoclassicError`` instance per item) and ``get_feature_names_out``; they declare the
    runtime parameters ``cache``, ``n_jobs``, ``progress`` (default None: the value of
    :func:`emoclassic.config_context`, so a saved model carries none of them) and
    ``on_error`` in their own ``__init__``.

    ``on_error="raise"`` raises after the whole batch ran (the good items are cached): a single
    bad item re-raises its own error, several raise :class:`BatchError` listing them.
    ``on_error="nan"`` returns NaN rows for bad items instead.
    """

    #: items per parallel task; subclasses with per-call overhead (a model) raise it
    _chunk_size: int = 8
    #: name of the kind of item in messages
    _item_noun: str = "item"
    #: True (set by a class itself, not inherited) when ``_config()`` and
    #: ``get_feature_names_out()`` follow from the parameters and emoclassic's own code alone
    #: (no model file, no other package's version): a fully cached command-line run may then
    #: answer from the store without building the extractor (:mod:`._cached`)
    _identity_from_code: bool = False

    # -- to implement -------------------------------------------------------------------
    def _items(self, X) -> list[Item]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _compute_batch(self, items: list[Item]) -> list[np.ndarray | Exception]:
        return [self._compute_one_safe(it) for it in items]

    def _compute_one(self, item: Item) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------
    def _runtime(self, name: str) -> Any:
        """A runtime setting: this extractor's own parameter when set, else the context's."""
        value = getattr(self, name, None)
        if value is not None:
            return value
        from .._config import get_config

        return get_config()[name]

    def _compute_one_safe(self, item: Item) -> np.ndarray | Exception:
        try:
            return self._compute_one(item)
        except EmoclassicError as exc:
            return exc

    def __setstate__(self, state: dict) -> None:
        """Unpickle; parameters added to the class after the model was saved get their
        defaults, so that an older saved model still has every parameter ``get_params`` and
        the cache keys read (without it, its first use raised AttributeError). What the
        defaults change in the features is told when the model is loaded
        (:func:`emoclassic.artifacts.load_model` compares the model card's feature
        configurations with today's)."""
        super().__setstate__(state)
        import inspect

        for name, p in inspect.signature(type(self).__init__).parameters.items():
            if (name != "self" and p.default is not inspect.Parameter.empty
                    and p.kind is not p.VAR_KEYWORD and name not in self.__dict__):
                setattr(self, name, p.default)

    def _config(self) -> dict:
        """Everything that determines the output values (part of every cache key)."""
        params = {k: v for k, v in self.get_params(deep=False).items() if k not in RUNTIME_PARAMS}
        return {"class": type(self).__name__, **params, **self._extra_identity()}

    def _extra_identity(self) -> dict:
        """Identity of external state (a model's weights hash, say) for cache keys."""
        return {}

    def fit(self, X, y=None):
        """Learn nothing (the extractor is stateless); validate the input once."""
        self._check_params()
        self._fit_input(X)
        return self

    def _fit_input(self, X) -> None:
        """Hook for subclasses that record ``n_features_in_`` for array input."""

    def _check_params(self) -> None:
        if getattr(self, "on_error", "raise") not in ("raise", "nan"):
            raise ConfigError(
                f"on_error={self.on_error!r} is not valid; use 'raise' or 'nan'"
            )

    def __sklearn_is_fitted__(self) -> bool:
        return True  # stateless: usable without fit, as FunctionTransformer

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

    def transform(self, X) -> np.ndarray:
        """One float32 row per item of ``X`` (see the class docs for bad items)."""
        from ._tables import active_rows

        rows = active_rows(self, X)  # precomputed by emoclassic.features.precompute
        if rows is not None:
            return rows
        self._check_params()
        features, failures = self._transform_all(X)
        if failures and self.on_error == "raise":
            self._raise_failures(failures)
        return features

    def _raise_failures(self, failures: list[tuple[str, str, Exception]]) -> None:
        if len(failures) == 1:
            raise failures[0][2]
        lines = "; ".join(f"{i}: {m}" for i, m, _ in failures[:3])
        more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
        raise BatchError(
            f"{len(failures)} {self._item_noun}(s) failed{more}: {lines}. The other items were "
            "computed and cached; fix or drop the failed ones (on_error='nan' keeps going)",
            [Failure(id=str(i), message=m) for i, m, _ in failures],
        )

    def _transform_all(
        self, X, items: list[Item] | None = None
    ) -> tuple[np.ndarray, list[tuple[str, str, Exception]]]:
        items = self._items(X) if items is None else items
        store = resolve_store(self._runtime("cache"))
        n = len(items)
        out: np.ndarray | None = None
        errors: dict[int, Exception] = {}
        todo: list[tuple[int, Item, str | None]] = []
        key = key_prefix(self._config()) if store is not None else None

        def place(i: int, vec: np.ndarray) -> None:
            nonlocal out
            if out is None:
                out = np.full((n, vec.shape[0]), np.nan, dtype=np.float32)
            if vec.shape[0] != out.shape[1]:
                raise ConfigError(
                    f"{type(self).__name__} produced vectors of lengths {out.shape[1]} and "
                    f"{vec.shape[0]}; clear the feature cache if the extractor code changed"
                )
            out[i] = vec

        for i, it in enumerate(items):
            k = None
            if key is not None and it.key_parts is not None:
                k = key(it.key_parts)
                cached = store.get(k)
                if cached is not None:
                    place(i, cached)
                    continue
            todo.append((i, it, k))
        if todo:
            logger.info(
                "%s: computing %d of %d %ss (%d cached)",
                type(self).__name__, len(todo), n, self._item_noun, n - len(todo),
            )
            for idx, vec, exc in self._run(todo, store):
                if vec is None:
                    errors[idx] = exc
                else:
                    place(idx, vec)
        if out is None:
            out = np.full((n, self._n_features_hint()), np.nan, dtype=np.float32)
        failures = [(items[i].id, str(e), e) for i, e in sorted(errors.items())]
        stats = _STATS.get()
        if stats is not None:
            stats["n_cached"] = stats.get("n_cached", 0) + n - len(todo)
            stats["n_computed"] = stats.get("n_computed", 0) + len(todo) - len(errors)
        for item_id, msg, _ in failures:
            logger.warning("%s %s failed: %s", self._item_noun, item_id, msg)
        return out, failures

    def _n_features_hint(self) -> int:
        try:
            return len(self.get_feature_names_out())
        except Exception:  # noqa: BLE001 - names may need data; 0 columns is honest then
            return 0

    def _run(self, todo, store):
        """Yield ``(index, vector|None, error|None)`` for each item to compute.

        Chunks run in this process (``n_jobs=1``), in joblib's local processes, or on Dask
        workers inside :func:`emoclassic.parallel.parallel_backend` ``("dask")``; each worker
        stores its results as it finishes them, so an interrupted run keeps its work.
        """
        from .._config import progress_bar
        from ..parallel import distributed_active

        n_jobs = self._runtime("n_jobs") or 1
        chunk = max(1, int(getattr(self, "batch_size", None) or self._chunk_size))
        chunks = list(_chunks(todo, chunk))
        bar = progress_bar(
            total=len(todo),
            desc=type(self).__name__,
            unit=self._item_noun,
            enabled=bool(self._runtime("progress")),
            leave=False,
        )
        try:
            if len(chunks) == 1 or (n_jobs == 1 and not distributed_active()):
                results = (_run_chunk(self, c, store) for c in chunks)
            else:
                from joblib import Parallel, delayed

                ext, wstore = _for_workers(self, store)
                results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                    delayed(_run_chunk)(ext, c, wstore) for c in chunks
                )
            for res in results:
                bar.update(len(res))
                yield from res
        finally:
            bar.close()


def extract(
    extractor: BaseExtractor, X, *, backend: str = "local", scheduler: str | None = None
) -> ExtractionResult:
    """Run ``extractor`` over ``X`` keeping going past bad items: the batch-friendly entry point.

    Returns the rows that worked, their ids and the failures; nothing computed is lost (each
    result is stored as soon as its chunk is done, so a rerun after an interruption computes
    only what is missing). ``backend="dask"`` runs the chunks on the Dask cluster at
    ``scheduler`` or, without one, on a local cluster of ``extractor.n_jobs`` worker
    processes (see :func:`emoclassic.parallel.parallel_backend`).
    """
    from ..parallel import parallel_backend

    extractor._check_params()  # a bad option is one error now, not one failure per item
    items = extractor._items(X)
    stats: dict = {}
    token = _STATS.set(stats)
    try:
        with parallel_backend(backend, scheduler=scheduler,
                              n_workers=extractor._runtime("n_jobs")):  # fmt: skip
            features, failures = extractor._transform_all(X, items)
    finally:
        _STATS.reset(token)
    failed = {i for i, _, _ in failures}
    ok = np.array([it.id not in failed for it in items], dtype=bool)
    try:
        names = list(extractor.get_feature_names_out())
    except Exception:  # noqa: BLE001
        names = [f"f{i}" for i in range(features.shape[1])]
    return ExtractionResult(
        features=features if ok.all() else features[ok],  # no copy of a big matrix
        ids=[it.id for it, good in zip(items, ok, strict=True) if good],
        failures=[Failure(id=str(i), path=_item_path(it), message=m)
                  for it, (i, m, _) in _failed_items(items, failures)],
        feature_names=names,
        ok=ok,
        n_cached=int(stats.get("n_cached", 0)),
        n_computed=int(stats.get("n_computed", 0)),
    )
