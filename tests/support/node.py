"""The npm packages the spec tests drive, installed into .node/ by `make node-deps`."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = ROOT / ".node" / "node_modules" / ".bin"
# Redocly asks the network about updates and sends telemetry unless told not to.
QUIET_NODE_ENV = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}


def node_tool(name: str) -> str:
    """The path of an installed npm program; a missing one fails (it is bootstrapped)."""
    path = NODE_BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed: run `make node-deps` (make test does)")
    return str(path)
