"""Running the app under uvicorn on a socket bound here (so a taken port is one clear error)."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from typing import Any

from ..exceptions import ConfigError

__all__ = ["bind", "run_server"]

logger = logging.getLogger("emoclassic.serve")


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` and listening (port 0: a free one; read it
    with ``sock.getsockname()[1]``). ConfigError, one line, when it cannot be bound."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"--port {port!r}: give a port number from 1 to 65535 (0: any free one)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: not an address of this machine ({exc.strerror}); "
                          "use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"
                          ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)  # connections wait in the backlog until the server accepts them
    except OSError as exc:
        sock.close()
        fix = ("choose another --port (0: any free one)" if exc.errno in (98, 48, 10048)
               else "choose another --host or --port")
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); {fix}") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://HOST:PORT/`` of a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class _Stopped(Exception):
    """SIGTERM, raised by the handler :func:`run_server` installs."""


def _stop(signum: int, frame: Any) -> None:
    raise _Stopped


def run_server(app: Any, sock: socket.socket, *, log_level: str = "info",
               access_log: bool = True) -> None:
    """Serve ``app`` on ``sock`` with uvicorn until Ctrl+C (SIGINT) or SIGTERM, then return
    after a graceful shutdown (uvicorn re-raises the signal it stopped on: here it ends the
    call, not the process)."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=access_log, lifespan="off",
                            timeout_graceful_shutdown=5, server_header=False)
    server = uvicorn.Server(config)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if main else None
    try:
        server.run(sockets=[sock])
    except (KeyboardInterrupt, _Stopped):
        logger.debug("stopped by a signal")
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
