"""The HTTP API metrics influxd records, with labels bounded whatever clients send: each
label's values come from a fixed set, and past `max_series` label sets (series_limit.py)
a request with a new one is counted under the overflow labels below, unless it is a
well-known client's successful GET, whose label set is reserved."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from impl.metrics.series_limit import (
    InstanceRecords,
    LabelSet,
    SeriesLimit,
    SharedSeriesLimit,
)
from impl.metrics.user_agents import RESERVED, agent_name

# Names, help texts, buckets and label names as influxd's.
REQUESTS_HELP = "Number of http requests received"
DURATION_HELP = "Time taken to respond to HTTP request"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LABELS = ("handler", "method", "path", "response_code", "status", "user_agent")
HANDLER = "platform"
FALLBACK_PATH = "/:fallback_path"

# Methods beyond these are clients' inventions; each would be a new series.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"}
)
OTHER_METHOD = "OTHER"
# `method` and `user_agent` of a request that reached no operation (404, 405, a
# refusal): whoever sends those can choose both, so they would only add series.
UNROUTED = "none"

# The overflow series keep influxd's six label names, so that queries, dashboards and
# `by (...)` written against influxd's labels still see them (a label of its own, as
# OpenTelemetry's `otel.metric.overflow`, would change the label set). All take the value
# `overflow` but `handler` and `status`: keeping the status class leaves sums and ratios
# by `status` (error rates) exact, for one overflow series per class (2XX, ..., 5XX).
OVERFLOW = "overflow"
OVERFLOW_HELP = (
    "Number of http requests counted under the overflow labels, "
    "their own label set being beyond the series limit"
)
DEFAULT_MAX_SERIES = 100  # Config.max_http_series's default too
# A request whose client left before it was read has no answer and no status: counted
# here, by route template, and not in http_api_requests_total, whose error rates it
# would pollute (one client could make thousands of 500s a second).
ABORTED_HELP = "Number of http requests whose client left before the request was read"

_METHOD = LABELS.index("method")
_STATUS = LABELS.index("status")
_AGENT = LABELS.index("user_agent")


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def status_class(status: int) -> str:
    return f"{status // 100}XX"


def is_overflow(labels: LabelSet) -> bool:
    return labels[_METHOD] == OVERFLOW


def is_reserved(labels: LabelSet) -> bool:
    """A successful GET by a well-known client (user_agents.RESERVED): it never competes
    for the limit, so nobody can take it first, whatever they send. Only requests that
    reach an operation carry an agent name, and each of the four operations answers a
    GET with one success status, so each reserved client has at most four label sets."""
    return labels[_METHOD] == "GET" and labels[_STATUS] == "2XX" and labels[_AGENT] in RESERVED


def takes_no_place(labels: LabelSet) -> bool:
    """Label sets the limit does not count: the overflow ones and the reserved ones."""
    return is_overflow(labels) or is_reserved(labels)


class HttpMetrics:
    """`http_api_requests_total` and `http_api_request_duration_seconds` of one app. influxd
    records only 2xx and 5xx; 4xx are recorded here too (status="4XX"): 401/404 storms show."""

    def __init__(
        self,
        registry: CollectorRegistry | None,
        *,
        max_series: int = DEFAULT_MAX_SERIES,
        shared: InstanceRecords | None = None,
    ) -> None:
        """`shared`: what every worker has recorded, when worker processes share the limit."""
        self.requests = Counter("http_api_requests", REQUESTS_HELP, LABELS, registry=registry)
        self.overflow = Counter("http_api_overflow_requests", OVERFLOW_HELP, registry=registry)
        self.aborted = Counter(
            "http_api_aborted_requests", ABORTED_HELP, ["path"], registry=registry
        )
        self.limit = (
            SharedSeriesLimit(
                max_series,
                recorded=shared,
                family="http_api_requests",
                label_names=LABELS,
                exempt=takes_no_place,
            )
            if shared is not None
            else SeriesLimit(max_series, takes_no_place)
        )
        self.duration = Histogram(
            "http_api_request_duration_seconds",
            DURATION_HELP,
            LABELS,
            buckets=BUCKETS,
            registry=registry,
        )

    def record_aborted(self, path: str) -> None:
        """Count a request whose client left before it was read; `path` a route template."""
        self.aborted.labels(path).inc()

    def record(
        self,
        *,
        method: str,
        path: str,
        status: int,
        user_agent: str | None,
        seconds: float,
        routed: bool = True,
        trace_id: str | None = None,
    ) -> None:
        """Count one finished request; `path` must already be a route template, and
        `routed` says whether it reached an operation."""
        labels: LabelSet = (
            HANDLER,
            method_label(method) if routed else UNROUTED,
            path,
            str(status),
            status_class(status),
            agent_name(user_agent) if routed else UNROUTED,
        )
        # The child is made only once admitted: making it creates its series.
        admitted = labels
        if not self.limit.admit(labels, lambda: self.requests.labels(*admitted).inc()):
            labels = (HANDLER, OVERFLOW, OVERFLOW, OVERFLOW, status_class(status), OVERFLOW)
            self.requests.labels(*labels).inc()
            self.overflow.inc()
        exemplar = {"trace_id": trace_id} if trace_id else None
        self.duration.labels(*labels).observe(seconds, exemplar)
