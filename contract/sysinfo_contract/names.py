"""`name[]`: which metric families a list of names selects. One rule for the server,
which filters what it encodes, and the client, which filters what it parsed (influxd
ignores `name[]`, so every server gives the same answer through the client)."""

from __future__ import annotations

from collections.abc import Iterable


def wanted_names(names: Iterable[str] | None) -> frozenset[str] | None:
    """The selection `names` asks for; None (everything) when empty or absent."""
    return frozenset(names) if names else None


def selects(wanted: frozenset[str] | None, family_name: str, sample_names: Iterable[str]) -> bool:
    """A family is selected by its own name or by the name of any of its samples
    (`x`, `x_total`, `x_bucket` all select family `x`)."""
    return wanted is None or family_name in wanted or any(name in wanted for name in sample_names)
