"""Reading /metrics bodies the way a scraper does: prometheus_client's own parsers."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families
from prometheus_client.parser import text_string_to_metric_families


def families(body: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(body)}


def openmetrics_families(body: str) -> dict[str, Metric]:
    parsed = om_families(body)  # type: ignore[no-untyped-call]
    return {family.name: family for family in parsed}


def sample_value(family: Metric, name: str, **labels: str) -> float:
    """The value of the one sample called `name` whose labels include `labels`."""
    matches = [
        sample.value
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matches) == 1, f"{len(matches)} samples {name}{labels} in {family.name}"
    return matches[0]


def request_count(body: str, **labels: str) -> float:
    """Sum of http_api_requests_total over the series matching `labels` (0 if none)."""
    family = families(body).get("http_api_requests")
    if family is None:
        return 0.0
    return sum(
        sample.value
        for sample in family.samples
        if sample.name == "http_api_requests_total"
        and all(sample.labels.get(k) == v for k, v in labels.items())
    )
