"""Choosing joblib's backend: loky processes here, or a Dask cluster's workers.

Everything emoclassic runs in parallel (feature-extraction chunks, grid-search fits) goes
through ``joblib.Parallel``. Inside ``parallel_backend("dask")`` joblib sends those tasks to a
``dask.distributed`` cluster instead of local processes, so nothing else changes between a
laptop and a cluster and the results are the same (every task is deterministic; the feature
store is the same files as long as the workers see the same paths).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..exceptions import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["BACKENDS", "ParallelInfo", "distributed_active", "parallel_backend"]

#: The backends ``--backend`` accepts.
BACKENDS = ("local", "dask")

_INSTALL = 'pip install "emoclassic[dask]"'


@dataclass
class ParallelInfo:
    """What a :func:`parallel_backend` block runs on."""

    backend: str
    #: parallel slots: local processes, or the threads of all Dask workers
    n_workers: int
    #: the scheduler's address (Dask) or None
    address: str | None = None
    #: the ``distributed.Client`` (Dask) or None
    client: Any = None


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(
            f"backend 'dask' needs dask.distributed, which is not installed; {_INSTALL} "
            "(or use backend 'local')"
        ) from exc
    return distributed


def _check(backend: str, scheduler: str | None) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r} is unknown; choose one of {', '.join(BACKENDS)}")
    if scheduler is not None and backend != "dask":
        raise ConfigError(
            f"scheduler={scheduler!r} applies to backend 'dask'; add --backend dask "
            "(backend='dask') or drop --scheduler"
        )


def _connect(distributed, scheduler: str, timeout: float):
    """A client of an existing cluster: ``tcp://host:8786`` or a scheduler JSON file."""
    kwargs: dict[str, Any] = {"timeout": timeout, "set_as_default": False}
    if scheduler.endswith(".json"):
        if not os.path.isfile(scheduler):
            raise ConfigError(
                f"scheduler file {scheduler} does not exist; start the scheduler with "
                f"--scheduler-file {scheduler} first, or give its address (tcp://HOST:8786)"
            )
        kwargs["scheduler_file"] = scheduler
    else:
        kwargs["address"] = scheduler
    try:
        return distributed.Client(**kwargs)
    except (OSError, TimeoutError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"cannot reach the Dask scheduler {scheduler} within {timeout:g} s ({first}); check "
            "the address and that this machine can open connections to it"
        ) from exc


@contextlib.contextmanager
def parallel_backend(
    backend: str = "local",
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    processes: bool = True,
    threads_per_worker: int = 1,
    timeout: float = 30.0,
) -> Iterator[ParallelInfo]:
    """Run the joblib work of the block locally or on Dask workers.

    ``backend="local"`` changes nothing: code inside uses its own ``n_jobs`` loky processes.
    ``backend="dask"`` connects to ``scheduler`` (``tcp://HOST:8786`` or a scheduler JSON
    file) or, without one, starts a ``LocalCluster`` of ``n_workers`` (default: all cores)
    single-threaded worker processes (``processes=False``: threads of this process), and
    closes what it started on exit. Inside the block every ``joblib.Parallel`` runs on the
    cluster, whatever its ``n_jobs``; emoclassic's extractors then parallelise even at
    ``n_jobs=1``.
    """
    _check(backend, scheduler)
    if backend == "local":
        yield ParallelInfo("local", n_workers or 1)
        return
    distributed = _import_distributed()
    import joblib

    cluster = None
    if scheduler is not None:
        client = _connect(distributed, scheduler, timeout)
    else:
        n = int(n_workers) if n_workers and n_workers > 0 else (os.cpu_count() or 1)
        cluster = distributed.LocalCluster(
            n_workers=n,
            threads_per_worker=threads_per_worker,
            processes=processes,
            dashboard_address=":0",  # any free port: never collide with another cluster
            scheduler_port=0,
        )
        client = distributed.Client(cluster, set_as_default=False)
    try:
        slots = sum(client.ncores().values())
        info = ParallelInfo("dask", slots, client.scheduler.address, client)
        logger.info(
            "dask backend: %s with %d worker thread(s)%s", info.address, slots,
            " (local cluster)" if cluster is not None else "",
        )  # fmt: skip
        # a remote cluster may still be starting its workers (a Slurm queue): wait for them
        wait = timeout if scheduler is not None else 10
        with joblib.parallel_config(backend="dask", client=client,
                                    wait_for_workers_timeout=wait):  # fmt: skip
            yield info
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def distributed_active() -> bool:
    """Whether joblib work now goes to a Dask cluster (a ``parallel_backend("dask")`` block,
    or the caller's own ``joblib.parallel_config(backend="dask")``)."""
    try:
        from joblib.parallel import get_active_backend

        backend, _ = get_active_backend()
    except Exception:  # noqa: BLE001 - joblib internals moved: behave as local
        return False
    return type(backend).__name__ == "DaskDistributedBackend"
