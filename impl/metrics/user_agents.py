"""A User-Agent header as a name from a bounded set, for the `user_agent` label: influxd
falls back to the whole header, which lets any client add series without bound; here
every other header is `other`, and none `unknown`."""

from __future__ import annotations

from functools import lru_cache

UNKNOWN = "unknown"
OTHER = "other"

# Product tokens (the text before the first "/"), looked up by their lower-cased form.
KNOWN_PRODUCTS = {
    name.lower(): name
    for name in (
        "curl",
        "Wget",
        "influxdb-client-python",
        "influxdb-client-go",
        "influxdb-client-java",
        "influxdb-client-js",
        "influxdb-client-csharp",
        "influx",
        "influxdb-sysinfo",
        "Telegraf",
        "Prometheus",
        "Go-http-client",
        "python-requests",
        "python-httpx",
        "python-urllib3",
        "Python-urllib",
        "aiohttp",
        "OpenAPI-Generator",
        "schemathesis",
        "Grafana",
        "HTTPie",
        "PostmanRuntime",
        "Apache-HttpClient",
        "okhttp",
        "node-fetch",
        "axios",
        "kube-probe",
        "Blackbox Exporter",
        "vmagent",
    )
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
