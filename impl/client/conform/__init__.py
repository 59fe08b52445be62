"""`influx-metrics conform URL`: does a server behave as the InfluxDB v2 system API should?

The checks come from three sources, and each says which: the OpenAPI spec this package
carries (level MUST), how influxd 2.x behaves (SHOULD), and optional extensions and
conventions (MAY). A run derives its requests from the spec (`plan`), sends them
(`probe`), evaluates the checks (`checks_*`, which share `gates` and `parsing`) on what
came back and reports (`results`, `renderers`).

From Python::

    from impl.client.conform import run_conform

    report = run_conform("http://127.0.0.1:8086", token=None, only=["spec.*"])
    report.conformance  # Conformance.CONFORMANT, NOT_CONFORMANT, INCOMPLETE or UNREACHABLE
    report.exit_status  # what the command would exit with
"""

from impl.client.conform.model import Level, Outcome, Result
from impl.client.conform.results import Conformance, Report
from impl.client.conform.runner import run_conform

__all__ = ["Conformance", "Level", "Outcome", "Report", "Result", "run_conform"]
