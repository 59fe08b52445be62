"""The client side: `SysinfoClient` (any InfluxDB v2 instance), line protocol, and the
`influx-metrics` program (cli.py)."""

from impl.client.api import *  # noqa: F403 (the public names are api's __all__)
from impl.client.api import __all__ as __all__
