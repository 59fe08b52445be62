"""PingController: routes each operation of the spec to its hand-written handler in impl."""

from impl.server import handlers


def get_ping(zap_trace_span=None):  # noqa: E501
    """Check that the instance is alive"""
    return handlers.get_ping(zap_trace_span=zap_trace_span)


def head_ping(zap_trace_span=None):  # noqa: E501
    """Check that the instance is alive, headers only"""
    return handlers.head_ping(zap_trace_span=zap_trace_span)
