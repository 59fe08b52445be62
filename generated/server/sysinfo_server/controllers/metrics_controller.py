"""MetricsController: routes each operation of the spec to its hand-written handler in impl."""

from impl.server import handlers


def get_metrics(zap_trace_span=None, name=None):  # noqa: E501
    """Get the instance&#39;s metrics in Prometheus exposition format"""
    return handlers.get_metrics(zap_trace_span=zap_trace_span, name=name)


def head_metrics(zap_trace_span=None, name=None):  # noqa: E501
    """Get the headers of the instance&#39;s metrics"""
    return handlers.head_metrics(zap_trace_span=zap_trace_span, name=name)
