"""The request path's anchors, each a server of its own on a loopback port it picks:

- `connexion`: a bare Connexion FlaskApp serving the same openapi/openapi.yaml, every
  operation answered by a trivial handler (an empty 204), under uvicorn with h11 and
  uvicorn's own defaults: what the spec and the framework cost with nothing of ours.
- `asgi`: a raw ASGI app answering /ping with 204 and the identity headers, under the
  service's own protocol and uvicorn options (impl/server/serving.py): the floor that
  the protocol leaves to any app.

    python -m bench.anchors connexion|asgi --port 0 [--state-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import connexion
import uvicorn
import yaml
from connexion.resolver import Resolver
from starlette.types import Receive, Scope, Send

from impl.http.protocol import protocol_class
from impl.server.config import load_config
from impl.server.serving import identity_headers, protocol_settings, uvicorn_options
from tools.processes import LOOPBACK

SPEC = Path(__file__).resolve().parents[1] / "openapi" / "openapi.yaml"


def trivial(**_parameters: Any) -> tuple[str, int]:
    return "", 204


def bare_connexion() -> connexion.FlaskApp:
    app = connexion.FlaskApp(__name__)
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    app.add_api(spec, resolver=Resolver(lambda _operation_id: trivial))
    return app


def raw_asgi(headers: list[tuple[bytes, bytes]]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.anchors")
    parser.add_argument("anchor", choices=("connexion", "asgi"))
    args, service_args = parser.parse_known_args(argv)
    config = load_config([*service_args, "--host", LOOPBACK])
    if args.anchor == "connexion":
        options: dict[str, Any] = {"http": "h11", "log_level": "warning", "access_log": False}
        app: Any = bare_connexion()
    else:
        options = {**uvicorn_options(config), "http": protocol_class(protocol_settings(config))}
        app = raw_asgi(identity_headers(config))
    server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, **options))
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
