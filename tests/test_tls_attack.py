"""Unfinished TLS handshakes are slow clients too (tools/attack_tls.py): held by the
hundred, and reopened whenever closed, they are counted and shed at --max-connections and
closed after --header-timeout, while every ping over TLS is answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.attack_tls import unfinished_handshakes
from tools.certificates import Authority, TlsLiveServer

pytestmark = pytest.mark.slow  # an attack on a live service for several seconds

HOLDERS = 150
MAX_CONNECTIONS = "64"
ATTACK_SECONDS = 6.0


@pytest.mark.parametrize(
    ("flags", "sheds"),
    [
        (["--max-connections", MAX_CONNECTIONS], True),
        (["--max-connections", MAX_CONNECTIONS, "--workers", "2"], True),
        # Fewer holders than places: the header timeout alone closes them.
        (["--header-timeout", "1"], False),
    ],
    ids=["shed", "shed-workers-2", "timed-out"],
)
def test_pings_over_tls_are_answered_under_unfinished_handshakes(
    tmp_path: Path, flags: list[str], sheds: bool
) -> None:
    authority = Authority(tmp_path / "certificates")
    (tmp_path / "service").mkdir()
    service = TlsLiveServer(tmp_path / "service", authority.issue("server"), authority.cert, flags)
    with service as live:
        result = unfinished_handshakes(
            live.port, authority.client_context(), HOLDERS, ATTACK_SECONDS
        )
        log = live.log()
    assert result.pinger is not None
    assert result.pinger.failures == 0
    assert result.pinger.statuses and set(result.pinger.statuses) == {204}
    # The service closed held handshakes, not only those the attack gave up.
    assert result.closed_by_service >= HOLDERS
    assert ("connections closed to make room" in log) is sheds
    assert "lvl=error" not in log
