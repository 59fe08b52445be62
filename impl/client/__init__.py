"""The client side: `SysinfoClient` (any InfluxDB v2 instance), line protocol, and the
`influx-metrics` program (cli.py)."""

from impl.client.api import (
    DEFAULT_TIMEOUT_SECONDS,
    ClientError,
    ConnectionFailed,
    Exposition,
    InvalidURL,
    Ping,
    RequestTimedOut,
    ServerError,
    SysinfoClient,
    UnexpectedResponse,
)

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "ClientError",
    "ConnectionFailed",
    "Exposition",
    "InvalidURL",
    "Ping",
    "RequestTimedOut",
    "ServerError",
    "SysinfoClient",
    "UnexpectedResponse",
]
