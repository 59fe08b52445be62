"""pytest plugin: `pytest --influx-conform=URL` runs conform's checks as tests.

One test per check (`influx-conform::spec.get-ping.status`), marked with its level
(`must`, `should`, `may`), so `-m must` and `-k metrics` select as usual. The run's
requests are sent once, when the first of these tests runs. A test fails where the
command's exit status would: a failed MUST check (a SHOULD check too with
--influx-conform-strict), a counted check that did not run (unless
--influx-conform-allow-incomplete); other failures are reported as xfailed, other
checks that did not run as skipped.

Installed packages provide it through their `pytest11` entry point. Without
--influx-conform it adds its options and nothing else.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # conform is imported only when a run is asked for
    from impl.client.conform.model import Check
    from impl.client.conform.results import Report

TOKEN_ENV = "INFLUX_TOKEN"
COLLECTOR_NAME = "influx-conform"
LEVEL_MARKERS = ("must", "should", "may")
REPORT = pytest.StashKey["Report"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("influx-conform", "InfluxDB v2 system API conformance")
    group.addoption(
        "--influx-conform",
        metavar="URL",
        help="run influx-metrics conform's checks against URL, one test per check",
    )
    group.addoption(
        "--influx-conform-token",
        metavar="TOKEN",
        default=os.environ.get(TOKEN_ENV),
        help=f"API token, sent as 'Authorization: Token <token>' (default: ${TOKEN_ENV})",
    )
    group.addoption(
        "--influx-conform-strict",
        action="store_true",
        help="a failed SHOULD check fails its test, as a MUST check does",
    )
    group.addoption(
        "--influx-conform-allow-incomplete",
        action="store_true",
        help="a check that could not run is skipped instead of failed",
    )
    group.addoption(
        "--influx-conform-ca-cert",
        metavar="FILE",
        help="over https, trust the CA certificates of this PEM file instead of the system's",
    )
    group.addoption(
        "--influx-conform-skip-verify",
        action="store_true",
        help="over https, do not check the server's certificate",
    )
    for name, default, what in (("timeout", 10.0, "each request"), ("max-time", 60.0, "the run")):
        group.addoption(
            f"--influx-conform-{name}",
            type=float,
            default=default,
            metavar="SECONDS",
            help=f"bound on {what} (default {default:g})",
        )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("influx_conform"):
        for level in LEVEL_MARKERS:
            config.addinivalue_line(
                "markers", f"{level}: influx-metrics conform checks of level {level.upper()}"
            )


# First, so that -k and -m, which deselect in the same hook, see these tests too.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not config.getoption("influx_conform"):
        return
    from impl.client.conform.contract import carried_spec
    from impl.client.conform.runner import all_checks

    collector = ConformChecks.from_parent(session, name=COLLECTOR_NAME)
    for check in all_checks(carried_spec()):
        item = CheckItem.from_parent(collector, name=check.id, check=check)
        item.add_marker(check.level.value.lower())
        items.append(item)


class ConformChecks(pytest.Collector):
    """The parent of the check tests; they are made at collection, not found in files."""

    def collect(self) -> list[pytest.Item]:
        return []


class CheckFailed(Exception):
    """A check's failure, or a counted check that did not run, with its details."""


class CheckItem(pytest.Item):
    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        from impl.client.conform.model import Outcome
        from impl.client.conform.renderers import failure_details

        report = _report(self.config)
        result = next((r for r in report.results if r.check.id == self.check.id), None)
        if result is None:
            pytest.skip("not evaluated")
        reason = result.verdict.reason
        counted = result.check.level in report.counted
        if result.outcome is Outcome.FAIL:
            if counted:
                raise CheckFailed("\n".join([reason, *failure_details(result)]))
            pytest.xfail(f"{result.check.level.value} check fails (counts with --strict): {reason}")
        if result.outcome is Outcome.NOT_RUN:
            if counted and not report.allow_incomplete:
                raise CheckFailed(f"did not run: {reason}")
            pytest.skip(f"did not run: {reason}")
        if result.outcome is Outcome.SKIP:
            pytest.skip(reason)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return f"{self.check.id} [{self.check.level.value}]: {excinfo.value}"
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{COLLECTOR_NAME}::{self.check.id}"


def _report(config: pytest.Config) -> Report:
    """The run, made once for all the check tests."""
    if REPORT not in config.stash:
        from impl.client.conform.runner import run_conform

        config.stash[REPORT] = run_conform(
            config.getoption("influx_conform"),
            config.getoption("influx_conform_token") or None,
            strict=config.getoption("influx_conform_strict"),
            allow_incomplete=config.getoption("influx_conform_allow_incomplete"),
            timeout=config.getoption("influx_conform_timeout"),
            max_time=config.getoption("influx_conform_max_time"),
            ca_cert=config.getoption("influx_conform_ca_cert"),
            skip_verify=config.getoption("influx_conform_skip_verify"),
        )
    return config.stash[REPORT]
