"""A User-Agent header as a name from a bounded set, for the `user_agent` label: influxd
falls back to the whole header, which lets any client add series without bound; here
every other header is `other`, and none `unknown`."""

from __future__ import annotations

from functools import lru_cache

UNKNOWN = "unknown"
OTHER = "other"

# Clients whose job is to read this API, each by the name it is labelled with:
# - scrapers: Prometheus; VictoriaMetrics' vmagent (which scrapes as `vm_promscrape`);
#   Telegraf; Grafana Agent and its successor Alloy; Grafana;
# - probes: Kubernetes' kubelet (`kube-probe`), Prometheus' Blackbox Exporter;
# - InfluxDB's own: the `influx` CLI and the v2 client libraries of every language
#   that names itself in its User-Agent (Java, Kotlin and Scala are one library with
#   three names); this service's own client.
# Their successful GETs keep series of their own whatever came before
# (http_metrics.py): the label that tells who watches cannot be squatted. General
# HTTP tools and libraries (curl, Wget, Go-http-client, python-requests, browsers...)
# are not: they name a tool, not a watcher, anyone's script and most attack tools send
# them, and each name reserved adds four label sets to the bound.
RESERVED = frozenset(
    {
        "Prometheus",
        "vmagent",
        "Telegraf",
        "GrafanaAgent",
        "Alloy",
        "Grafana",
        "kube-probe",
        "Blackbox Exporter",
        "influx",
        "influxdb-client-python",
        "influxdb-client-go",
        "influxdb-client-java",
        "influxdb-client-kotlin",
        "influxdb-client-scala",
        "influxdb-client-js",
        "influxdb-client-csharp",
        "influxdb-client-ruby",
        "influxdb-client-php",
        "influxdb-client-swift",
        "influxdb-sysinfo",
    }
)

_OTHER_KNOWN = (
    "curl",
    "Wget",
    "Go-http-client",
    "python-requests",
    "python-httpx",
    "python-urllib3",
    "Python-urllib",
    "aiohttp",
    "OpenAPI-Generator",
    "schemathesis",
    "HTTPie",
    "PostmanRuntime",
    "Apache-HttpClient",
    "okhttp",
    "node-fetch",
    "axios",
)
# Product tokens (the text before the first "/"), looked up by their lower-cased form.
KNOWN_PRODUCTS = {name.lower(): name for name in sorted(RESERVED) + list(_OTHER_KNOWN)} | {
    "vm_promscrape": "vmagent"  # vmagent's scrapes
}

# Browsers announce themselves as Mozilla/5.0 and name the engine they build on too,
# so the most specific marker must be tested first.
BROWSER_MARKERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("HeadlessChrome/", "HeadlessChrome"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chrome"),
    ("Safari/", "Safari"),
)


@lru_cache(maxsize=1024)
def agent_name(header: str | None) -> str:
    if header is None or not header.strip():
        return UNKNOWN
    text = header.strip()
    if text.startswith("Mozilla/"):
        for marker, name in BROWSER_MARKERS:
            if marker in text:
                return name
        return OTHER
    product = text.split("/", 1)[0].split(" (", 1)[0].strip().lower()
    return KNOWN_PRODUCTS.get(product, OTHER)
