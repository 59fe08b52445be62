"""The HTTP API metrics influxd records, with labels bounded whatever clients send."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from impl.metrics.user_agents import agent_name

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


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def status_class(status: int) -> str:
    return f"{status // 100}XX"


class HttpMetrics:
    """`http_api_requests_total` and `http_api_request_duration_seconds` of one app.

    Unlike influxd, which records only 2xx and 5xx, 4xx responses are recorded too
    (status="4XX"), so that 401 and 404 storms can be seen.
    """

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.requests = Counter("http_api_requests", REQUESTS_HELP, LABELS, registry=registry)
        self.duration = Histogram(
            "http_api_request_duration_seconds",
            DURATION_HELP,
            LABELS,
            buckets=BUCKETS,
            registry=registry,
        )

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
        labels = (
            HANDLER,
            method_label(method) if routed else UNROUTED,
            path,
            str(status),
            status_class(status),
            agent_name(user_agent) if routed else UNROUTED,
        )
        self.requests.labels(*labels).inc()
        exemplar = {"trace_id": trace_id} if trace_id else None
        self.duration.labels(*labels).observe(seconds, exemplar)
