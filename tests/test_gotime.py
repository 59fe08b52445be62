"""impl/server/gotime.py against what Go itself prints."""

from __future__ import annotations

import pytest

from impl.server.gotime import go_duration, rfc3339_nano
from tests.support.go_time import parse_go_duration, parse_rfc3339_nano_utc

# (nanoseconds, time.Duration(n).String()) as Go 1.22 prints them.
GO_DURATIONS = [
    (0, "0s"),
    (1, "1ns"),
    (999, "999ns"),
    (1_000, "1µs"),
    (1_100, "1.1µs"),
    (2_200_000, "2.2ms"),
    (999_999_999, "999.999999ms"),
    (1_000_000_000, "1s"),
    (3_300_000_000, "3.3s"),
    (60_000_000_000, "1m0s"),
    (245_000_000_000, "4m5s"),
    (245_001_000_000, "4m5.001s"),
    (3_600_000_000_000, "1h0m0s"),
    (18_367_001_000_000, "5h6m7.001s"),
    (480_000_000_001, "8m0.000000001s"),
    (2**63 - 1, "2562047h47m16.854775807s"),
]


@pytest.mark.parametrize(("nanos", "printed"), GO_DURATIONS)
def test_go_duration_prints_as_go(nanos: int, printed: str) -> None:
    assert go_duration(nanos) == printed


@pytest.mark.parametrize(("nanos", "printed"), GO_DURATIONS)
def test_go_duration_reads_back(nanos: int, printed: str) -> None:
    assert parse_go_duration(printed) == pytest.approx(nanos / 1e9, rel=1e-9, abs=1e-9)


# (Unix nanoseconds, time.Unix(0, n).UTC().Format(time.RFC3339Nano)).
GO_TIMES = [
    (0, "1970-01-01T00:00:00Z"),
    (1_779_810_150_123_456_789, "2026-05-26T15:42:30.123456789Z"),
    (1_779_810_150_120_000_000, "2026-05-26T15:42:30.12Z"),
    (1_779_810_150_000_000_001, "2026-05-26T15:42:30.000000001Z"),
    (1_779_810_150_000_000_000, "2026-05-26T15:42:30Z"),
]


@pytest.mark.parametrize(("nanos", "printed"), GO_TIMES)
def test_rfc3339_nano_prints_as_go(nanos: int, printed: str) -> None:
    assert rfc3339_nano(nanos) == printed
    second, fraction = parse_rfc3339_nano_utc(printed)
    assert int(second.timestamp()) * 10**9 + fraction == nanos
