"""ReadyController: routes each operation of the spec to its hand-written handler in impl."""

from impl.server import handlers


def get_ready(zap_trace_span=None):  # noqa: E501
    """Get the readiness of the instance"""
    return handlers.get_ready(zap_trace_span=zap_trace_span)


def head_ready(zap_trace_span=None):  # noqa: E501
    """Get the headers of the instance&#39;s readiness"""
    return handlers.head_ready(zap_trace_span=zap_trace_span)
