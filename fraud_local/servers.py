"""Child entry points for the two servers local mode runs unchanged: moto and fraud-api.

``python -m fraud_local.servers moto --port N`` serves moto's whole AWS emulation on 127.0.0.1;
``python -m fraud_local.servers api --port N`` serves ``fraud_api.app.main:app`` under uvicorn,
configured by its own ``FRAUD_API_*`` variables. Both exit with their parent (``processes``).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from fraud_local.config import HOST
from fraud_local.processes import exit_with_parent, stop_on_signals


def serialised(app: Callable[..., Any], lock: threading.Lock) -> Callable[..., Any]:
    """One DynamoDB / DynamoDB Streams request at a time: moto's models are not thread-safe (a
    query walking a partition while another thread writes to it can fail or miss items)."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB"):
            return app(environ, start_response)
        with lock:
            # The response body is built inside the lock (moto renders it eagerly).
            return list(app(environ, start_response))

    return wsgi


def serve_moto(port: int) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from fraud_local import moto_patches
    from fraud_local.logs import configure_child_logging

    configure_child_logging()
    moto_patches.apply()
    app = serialised(DomainDispatcherApplication(create_backend_app), threading.Lock())
    server = make_server(HOST, port, app, threaded=True, request_handler=MotoRequestHandler)
    # moto's state is disposable: skip the interpreter's teardown, which takes seconds once the
    # tables hold a few thousand items (every object freed one by one).
    stop_on_signals(_exit_now)
    exit_with_parent()
    server.serve_forever()


def _exit_now() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def serve_api(port: int) -> None:
    import uvicorn

    config = uvicorn.Config(
        "fraud_api.app.main:app", host=HOST, port=port, proxy_headers=False, server_header=False, lifespan="on"
    )
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True

    exit_with_parent(stop)
    server.run()  # installs its own SIGTERM/SIGINT handlers: a graceful stop
    if not server.started:
        sys.exit(3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("server", choices=("moto", "api"))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    (serve_moto if args.server == "moto" else serve_api)(args.port)


if __name__ == "__main__":
    main()
