"""HealthController: routes each operation of the spec to its hand-written handler in impl."""

from impl.server import handlers


def get_health(zap_trace_span=None):  # noqa: E501
    """Get the health of the instance"""
    return handlers.get_health(zap_trace_span=zap_trace_span)


def head_health(zap_trace_span=None):  # noqa: E501
    """Get the headers of the instance&#39;s health"""
    return handlers.head_health(zap_trace_span=zap_trace_span)
