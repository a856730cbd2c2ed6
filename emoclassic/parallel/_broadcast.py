"""Sending one large object to every Dask worker once, so tasks carry only its key.

A grid search ships its pipeline with every fit task; when that pipeline holds the whole
corpus's feature tables, every task would ship them again. Broadcasting them once per cluster
and pickling a key instead keeps each task small (measured in docs/scaling.md).
"""

from __future__ import annotations

from typing import Any

from ._backend import distributed_active

__all__ = ["broadcast_key", "broadcast_value"]


def broadcast_key(owner: Any, value: Any, token: Any) -> str | None:
    """The key of ``value`` on every worker of the active Dask cluster (None off a cluster).

    ``owner`` keeps the future alive (in ``owner.__dict__["_broadcast"]``) and remembers
    ``token`` so a changed value is sent again.
    """
    if not distributed_active():
        return None
    from joblib.parallel import get_active_backend

    client = getattr(get_active_backend()[0], "client", None)
    if client is None:
        return None
    state = owner.__dict__.setdefault("_broadcast", {})
    full = (id(client), token)
    if state.get("token") != full:
        future = client.scatter([value], broadcast=True, hash=False)[0]
        state.update(token=full, future=future)  # the future keeps the data alive
    return state["future"].key


def broadcast_value(key: str) -> Any:
    """The broadcast value on this Dask worker (or via the client, off a worker)."""
    from distributed import get_worker

    try:
        return get_worker().data[key]
    except (ValueError, KeyError):  # not on a worker, or the data moved: ask the scheduler
        from distributed import Future, get_client
        from joblib.parallel import get_active_backend

        client = getattr(get_active_backend()[0], "client", None) or get_client()
        return Future(key, client=client).result()
