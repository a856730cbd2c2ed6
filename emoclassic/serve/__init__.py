"""``emoclassic serve``: a saved model kept warm behind HTTP (Starlette under uvicorn).

:func:`create_app` builds the ASGI app from a loaded :class:`~emoclassic.Recognizer`
(``POST /predict``, ``GET /health``, ``GET /model``, the web page at ``/``), so an application
can mount or run it itself; :func:`run_server` is what the command runs. Needs the ``serve``
extra: ``pip install 'emoclassic[serve]'``. The endpoints are described in docs/server.md.
"""

from __future__ import annotations

from ._app import DEFAULT_MAX_BYTES, create_app, public_card, warm_up
from ._run import bind, run_server, url_of

__all__ = ["DEFAULT_MAX_BYTES", "bind", "create_app", "public_card", "run_server", "url_of",
           "warm_up"]
