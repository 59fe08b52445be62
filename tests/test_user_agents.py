"""User-Agent header -> bounded label value."""

from __future__ import annotations

import pytest

from impl.metrics.user_agents import KNOWN_PRODUCTS, OTHER, RESERVED, UNKNOWN, agent_name


@pytest.mark.parametrize(
    ("header", "name"),
    [
        (None, UNKNOWN),
        ("", UNKNOWN),
        ("   ", UNKNOWN),
        ("curl/8.5.0", "curl"),
        ("influxdb-client-python/1.50.0", "influxdb-client-python"),
        ("Prometheus/2.45.3", "Prometheus"),
        ("Go-http-client/1.1", "Go-http-client"),
        ("python-requests/2.32.3", "python-requests"),
        ("python-httpx/0.28.1", "python-httpx"),
        ("Telegraf/1.30.0 Go/1.22.1", "Telegraf"),
        ("OpenAPI-Generator/1.0.0/python", "OpenAPI-Generator"),
        ("vm_promscrape", "vmagent"),
        ("GrafanaAgent/v0.40.3 (flow; linux; helm)", "GrafanaAgent"),
        ("Alloy/v1.5.0 (linux; binary)", "Alloy"),
        ("Blackbox Exporter/0.25.0", "Blackbox Exporter"),
        ("kube-probe/1.30", "kube-probe"),
        ("influx/2.7.5 (linux) Sha/a79a2a1 Date/2024-04-16T14:40:28Z", "influx"),
        ("influxdb-client-ruby/3.1.0", "influxdb-client-ruby"),
        ("influxdb-client-kotlin/7.2.0", "influxdb-client-kotlin"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "Chrome",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
            "Edge",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.2 Safari/605.1.15",
            "Safari",
        ),
        ("Mozilla/5.0 (compatible; SomeBot/1.0)", OTHER),
        ("my-own-scraper/0.1", OTHER),
        ("\x00\xff weird", OTHER),
    ],
)
def test_agent_names(header: str | None, name: str) -> None:
    assert agent_name(header) == name


def test_every_reserved_client_is_a_name_the_label_takes() -> None:
    """A reserved name no header maps to would reserve nothing."""
    assert RESERVED <= set(KNOWN_PRODUCTS.values())
    assert all(agent_name(f"{name}/1.0") == name for name in RESERVED)
