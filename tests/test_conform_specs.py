"""conform derives its checks and requests from the spec it is given: operationIds in
either style, HEAD operations declared or not, give the same judgement of the same
server."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from impl.client.conform import Conformance, Outcome, run_conform
from impl.client.conform.contract import Spec, carried_spec
from impl.client.conform.plan import METRICS_HEAD, requests
from impl.client.conform.runner import all_checks
from tests.support.conform_defects import DEFECTS, influxd_server
from tools.live import LiveServer


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def variant(snake: bool = False, heads: str = "") -> Spec:
    """The carried spec with operationIds in the generator's snake_case, and/or its HEAD
    operations changed (`heads`: "none" declares none, "with content" declares each as
    its GET with the GET's responses as they are, "headers only" the same without their
    content)."""
    document: dict[str, Any] = copy.deepcopy(carried_spec().document)
    for item in document["paths"].values():
        if heads == "none":
            item.pop("head", None)
        elif heads and "get" in item:
            head = copy.deepcopy(item["get"])
            head["operationId"] = "Head" + head["operationId"].removeprefix("Get")
            if heads == "headers only":
                for response in head["responses"].values():
                    response.pop("content", None)
            item["head"] = head
        if snake:
            for operation in item.values():
                operation["operationId"] = snake_case(operation["operationId"])
    return Spec(document, f"variant (snake case: {snake}, HEADs: {heads or 'as carried'})")


VARIANTS = [
    variant(snake=True),
    variant(heads="none"),
    variant(heads="with content"),
    variant(heads="headers only"),
    variant(snake=True, heads="with content"),
]


def ids(spec: Spec) -> set[str]:
    return {check.id for check in all_checks(spec)}


def test_operation_ids_in_either_style_give_the_same_checks() -> None:
    assert ids(variant(snake=True)) == ids(carried_spec())
    assert ids(variant(snake=True, heads="with content")) == ids(variant(heads="with content"))


def test_declared_heads_are_judged_as_operations_of_their_own() -> None:
    with_content, headers_only = variant(heads="with content"), variant(heads="headers only")
    for spec in (with_content, headers_only):
        for path in ("metrics", "health", "ready", "ping"):
            assert {f"spec.head-{path}.status", f"spec.head-{path}.headers"} <= ids(spec)
        # The HEAD scrape metrics.head compares is the declared HEAD's own request.
        assert METRICS_HEAD not in {planned.purpose for planned in requests(spec)}
    assert "spec.head-metrics.media-type" in ids(with_content)
    assert "spec.head-metrics.media-type" not in ids(headers_only)
    assert not any(check_id.startswith("spec.head-") and check_id.endswith(".body")
                   for check_id in ids(with_content))  # fmt: skip


@pytest.mark.parametrize("spec", VARIANTS, ids=[spec.source for spec in VARIANTS])
def test_the_faithful_server_is_conformant_to_every_variant(spec: Spec) -> None:
    with influxd_server() as server:
        report = run_conform(server.url, spec=spec)
    failed = [(r.check.id, r.verdict.reason) for r in report.with_outcome(Outcome.FAIL)]
    assert report.conformance is Conformance.CONFORMANT and failed == [], failed
    assert report.missing == []


def test_a_defect_is_found_under_every_variant() -> None:
    [html] = [defect for defect in DEFECTS if defect.name == "/metrics served as text/html"]
    spec = variant(snake=True, heads="with content")
    with influxd_server(html) as server:
        report = run_conform(server.url, spec=spec)
    failed = {r.check.id for r in report.with_outcome(Outcome.FAIL)}
    assert failed == {"spec.get-metrics.media-type", "spec.head-metrics.media-type"}


@pytest.mark.slow  # the live service
def test_this_service_is_conformant_to_every_variant(server: LiveServer) -> None:
    for spec in VARIANTS:
        report = run_conform(server.url, spec=spec)
        failed = [(r.check.id, r.verdict.reason) for r in report.with_outcome(Outcome.FAIL)]
        assert report.conformance is Conformance.CONFORMANT and failed == [], (spec.source, failed)
