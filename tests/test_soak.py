"""The soak of `make soak` (tests/support/soak.py), shortened to 10 s for `make test`."""

from __future__ import annotations

import pytest

from tools.live import LiveServer
from tools.soak import MIX, soak

pytestmark = pytest.mark.slow  # ten seconds of load by design

SECONDS = 10.0


def test_mixed_load_is_counted_exactly_with_flat_memory(fresh_server: LiveServer) -> None:
    report = soak(fresh_server, SECONDS)
    assert report.problems() == [], report.summary()
    assert set(report.by_kind) == {kind.name for kind in MIX}
    assert fresh_server.process is not None and fresh_server.process.poll() is None
    assert "lvl=error" not in fresh_server.log()
