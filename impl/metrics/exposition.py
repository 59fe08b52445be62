"""GET /metrics: which of prometheus_client's formats (`choose_encoder`) a client gets, and
which families it sees. gzip comes later, outside response validation
(impl/http/compression.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from impl.errors import InfluxError
from impl.metrics.encoding import encode_text
from impl.metrics.names import selects, wanted_names

TEXT = "text/plain"
OPENMETRICS = "application/openmetrics-text"

# Media ranges served as the text format. application/json is here because InfluxDB's
# own clients ask /metrics for JSON and expect the text (influxd ignores Accept).
TEXT_RANGES = frozenset({TEXT, "text/*", "*/*", "application/json", "application/*"})


def _parse_accept(header: str) -> Iterator[tuple[str, float]]:
    """(media range, q) for each entry of an Accept header."""
    for entry in header.split(","):
        media, *params = (part.strip() for part in entry.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        yield media.lower(), quality


def negotiate(accept: str | None) -> str:
    """The format a client gets, TEXT (0.0.4, influxd's only one) or OPENMETRICS: the one
    it weights highest, text on ties and without Accept; 406 when nothing acceptable is left."""
    if not accept or not accept.strip():
        return TEXT
    # (q, 1 for text: ties between formats go to text, whatever the order, format)
    best: tuple[float, int, str] | None = None
    for media, quality in _parse_accept(accept):
        if quality <= 0:
            continue
        if media == OPENMETRICS:
            candidate = (quality, 0, OPENMETRICS)
        elif media in TEXT_RANGES:
            candidate = (quality, 1, TEXT)
        else:
            continue
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        # Quoted whole: the error layer masks tokens, then cuts (impl/http/exceptions.py).
        raise InfluxError(
            "invalid", f"/metrics serves {TEXT} and {OPENMETRICS}, not {accept!r}", status=406
        )
    return best[2]


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
