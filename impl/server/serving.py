"""What every server process of the service shares, one process or a worker of many:
the listening socket and its TLS certificate, the identity headers, the limits and the
uvicorn options."""

from __future__ import annotations

import functools
import gc
import socket
from typing import Any

from impl.http.limits import Limits
from impl.http.protocol import ProtocolSettings
from impl.server.config import Config, ConfigError
from impl.server.tls import CertificateFiles, server_tls


def identity_headers(config: Config) -> list[tuple[bytes, bytes]]:
    """The headers influxd sets on every response, refusals included."""
    return [
        (b"x-influxdb-build", config.build.encode("latin-1")),
        (b"x-influxdb-version", config.influxdb_version.encode("latin-1")),
    ]


def freeze_start_up_objects() -> None:
    """Moves every object alive once the app is built (the spec, Connexion's and Flask's
    tables, the registry: tens of thousands) out of the garbage collector's sight. A full
    collection otherwise walks them all, 25 to 55 ms during which no request moves: the
    slowest scrapes of a busy instance were those. What requests allocate is collected
    as before; what is frozen is not, which is what a server's start-up state wants."""
    gc.collect()
    gc.freeze()


@functools.cache  # one object per Config: the protocol and the layers share it
def limits(config: Config) -> Limits:
    """The limits of the HTTP room, for the protocol (uvicorn_options) and the layers
    (impl/server/app.py); each one's name is its setting's."""
    return Limits(
        max_header_size=config.max_header_size,
        header_timeout=config.header_timeout,
        keep_alive_timeout=config.keep_alive_timeout,
        send_timeout=config.send_timeout,
        max_connections=config.max_connections,
    )


@functools.cache  # read and checked once at start; each worker inherits it and watches the files
def certificate_files(config: Config) -> CertificateFiles | None:
    """The TLS certificate and key the listener serves; None for plain HTTP."""
    return server_tls(config)


def protocol_settings(config: Config) -> ProtocolSettings:
    """What the protocol holds every connection to, for protocol_class (uvicorn's `http`
    option): h11 with header and send timeouts, strict framing, room made for requests,
    InfluxDB errors for what uvicorn refuses (impl/http/protocol.py says why not
    httptools), and TLS, each handshake run by the protocol itself, bounded and counted
    as a connection (uvicorn's ssl option would hide handshakes from it for 60 s each)."""
    return ProtocolSettings(limits(config), identity_headers(config), certificate_files(config))


def uvicorn_options(config: Config) -> dict[str, Any]:
    """uvicorn.Config options, apart from the app, where to listen and the protocol, which
    every caller passes as `http=protocol_class(protocol_settings(config))`: without it
    uvicorn would pick a protocol of its own, with none of the service's limits."""
    http_limits = limits(config)
    return {
        # The protocol parses with a head limit of its own; uvicorn's option, set alike,
        # sizes the parser it makes first and then gives up.
        "h11_max_incomplete_event_size": http_limits.max_header_size,
        "timeout_keep_alive": http_limits.keep_alive_timeout,
        # Nothing is logged or decided by client address or scheme: X-Forwarded-* is unread.
        "proxy_headers": False,
        # Start-up assembles the app: a failure stops the process instead of failing each request.
        "lifespan": "on",
        "log_config": None,  # impl/server/logs.py sets logging up
        "access_log": False,  # impl/http/observe.py writes the access log
        "server_header": False,
        "date_header": True,
    }


def listen(config: Config) -> socket.socket:
    """The listening socket, bound before uvicorn or gunicorn starts: a port in use is
    then one clear line, where either would log that it started and only then fail.
    So is a TLS certificate or key that cannot be served, checked before binding."""
    certificate_files(config)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    try:
        return socket.create_server((config.host, config.port), family=family, backlog=2048)
    except OSError as err:
        # Python appends "(while attempting to bind on address ...)": ours names it already.
        reason = (err.strerror or str(err)).split(" (while attempting", 1)[0].lower()
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {reason}") from err


def bound_address(listener: socket.socket) -> str:
    """host:port as bound, so that `--port 0` tells which port it got."""
    host, port = listener.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
