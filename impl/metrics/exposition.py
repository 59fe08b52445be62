"""GET /metrics: which of prometheus_client's formats (`choose_encoder`) a client gets, and
which families it sees. gzip comes later, outside response validation
(impl/http/compression.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from impl.errors import InfluxError
from impl.metrics.encoding import encode_text
from sysinfo_contract.names import selects, wanted_names

TEXT = "text/plain"
OPENMETRICS = "application/openmetrics-text"

# The media ranges that name each format, most specific first: a format's quality is
# that of the most specific range in Accept that matches it (RFC 9110 12.5.1), so
# `text/*, text/plain;q=0` refuses the text. application/json comes right after
# text/plain: InfluxDB's own clients ask /metrics for JSON and expect the text (influxd
# ignores Accept), so it stands for the text, and application/* reaches the text through it.
RANGES_BY_SPECIFICITY = {
    TEXT: (TEXT, "application/json", "text/*", "application/*", "*/*"),
    OPENMETRICS: (OPENMETRICS, "application/*", "*/*"),
}


def _quality(value: str) -> float:
    """An Accept q value; one that is not a number in [0, 1] (RFC 9110 12.4.2) counts as 0,
    above 1 as 1."""
    try:
        quality = float(value)
    except ValueError:
        return 0.0
    return min(quality, 1.0) if quality >= 0 else 0.0  # NaN fails `>= 0` too


def _parse_accept(header: str) -> dict[str, float]:
    """media range -> q for an Accept header; parameters other than q are not matched,
    and a range listed twice keeps its highest q."""
    weights: dict[str, float] = {}
    for entry in header.split(","):
        media, *params = (part.strip() for part in entry.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                quality = _quality(value.strip())
        media = media.lower()
        weights[media] = max(quality, weights.get(media, quality))
    return weights


# Scrapers send the same Accept header every time: each is parsed once.
@lru_cache(maxsize=512)
def negotiate(accept: str | None) -> str:
    """The format a client gets, TEXT (0.0.4, influxd's only one) or OPENMETRICS: the one
    of higher quality, text on ties and without Accept; 406 when neither is acceptable."""
    if not accept or not accept.strip():
        return TEXT
    weights = _parse_accept(accept)
    quality = {
        media_type: next((weights[r] for r in ranges if r in weights), 0.0)
        for media_type, ranges in RANGES_BY_SPECIFICITY.items()
    }
    if quality[TEXT] <= 0 and quality[OPENMETRICS] <= 0:
        # Quoted whole: the error layer masks tokens, then cuts (impl/http/exceptions.py).
        raise InfluxError(
            "invalid", f"/metrics serves {TEXT} and {OPENMETRICS}, not {accept!r}", status=406
        )
    return TEXT if quality[TEXT] >= quality[OPENMETRICS] else OPENMETRICS


class FamilyView(Collector):
    """The families of a collector sorted by name, as influxd (Go's promhttp) sorts them, and
    restricted to those `names` selects; `drop_created` drops `_created` (influxd has none)."""

    def __init__(self, source: Collector, names: Iterable[str] | None, drop_created: bool) -> None:
        self._source = source
        self._names = wanted_names(names)
        self._drop_created = drop_created

    def collect(self) -> Iterator[Metric]:
        for family in sorted(self._source.collect(), key=lambda family: family.name):
            if not selects(self._names, family.name, (s.name for s in family.samples)):
                continue
            if self._drop_created and family.type in ("counter", "histogram", "summary"):
                family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


def expose(
    registry: Collector, *, accept: str | None, names: Iterable[str] | None = None
) -> tuple[bytes, str]:
    """`registry` encoded in the format negotiated for an Accept header, and its content type."""
    media_type = negotiate(accept)
    encoder, content_type = choose_encoder(media_type)
    if media_type == TEXT:
        # The bytes encoder(FamilyView(...)) would give, several times faster
        # (impl/metrics/encoding.py; equality: tests/test_encoding.py; speed: bench/results/).
        return encode_text(registry, names), content_type
    return encoder(FamilyView(registry, names, drop_created=False)), content_type
