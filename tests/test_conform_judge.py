"""conform is an independent judge: its expectations come from the spec it carries and
from influxd's documented behaviour written in conform itself, never from the server
it might be judging. Its modules stand flat, each named for one job. Formats are
checked as their RFCs define them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from impl.client.conform import gates, influxd
from impl.client.conform.contract import Spec, carried_spec
from impl.client.conform.formats import format_checker, is_date, is_date_time, is_time
from impl.client.conform.model import Received

ROOT = Path(__file__).resolve().parents[1]
CONFORM = ROOT / "impl" / "client" / "conform"
# What conform must not reach, directly or through anything it imports: the server,
# its HTTP layers, its error tables, its metrics, its spec, and the generated server.
FORBIDDEN = ("impl.server", "impl.http", "impl.errors", "impl.metrics", "impl.spec",
             "impl.upstream", "impl.main", "sysinfo_server")  # fmt: skip


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, package: str) -> set[str]:
    """Every module a file imports; `from package import name` counts `package.name`
    when that is a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.add(module)
            found.update(
                f"{module}.{alias.name}"
                for alias in node.names
                if module_file(f"{module}.{alias.name}")
            )
    return found


def reached_from(*starts: str) -> set[str]:
    """The modules of this repository reachable by imports from `starts`, and the
    outside modules they import."""
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        if path is None:
            continue
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        todo += imported_modules(path, package)
    return seen


def conform_modules() -> list[str]:
    return [f"impl.client.conform.{path.stem}" for path in sorted(CONFORM.glob("*.py"))]


def test_conform_reaches_nothing_of_the_server() -> None:
    reached = reached_from(*conform_modules(), "impl.client.rawhttp")
    assert "impl.client.conform.judge" in reached and "impl.client.rawhttp" in reached
    offending = sorted(name for name in reached if name.startswith(FORBIDDEN))
    assert offending == []


def test_the_import_walk_would_see_a_server_import() -> None:
    # The program of the service reaches every forbidden room: the walk must see them.
    reached = reached_from("impl.main")
    assert {"impl.server.app", "impl.http.protocol", "impl.errors"} <= reached


def test_no_check_module_imports_another() -> None:
    checks = {name for name in conform_modules() if name.rsplit(".", 1)[1].startswith("checks_")}
    assert len(checks) == 3
    for name in checks:
        path = module_file(name)
        assert path is not None
        assert imported_modules(path, "impl.client.conform") & checks == set(), name


def test_only_the_parsing_module_parses_bodies() -> None:
    parsers = {"prometheus_client.parser", "prometheus_client.openmetrics.parser", "gzip", "zlib"}
    users = set()
    for name in conform_modules():
        path = module_file(name)
        assert path is not None
        if imported_modules(path, "impl.client.conform") & parsers:
            users.add(name)
    assert users == {"impl.client.conform.parsing"}


def test_conform_module_names_are_its_own() -> None:
    """No module elsewhere in the tree has the name of one of conform's."""
    elsewhere = {
        path.stem
        for folder in ("impl", "tools", "bench", "openapi")
        for path in (ROOT / folder).rglob("*.py")
        if CONFORM not in path.parents and path.stem != "__init__"
    }
    ours = {path.stem for path in CONFORM.glob("*.py")} - {"__init__"}
    assert ours & elsewhere == set()


def test_the_carried_spec_is_the_reviewed_one() -> None:
    reviewed = yaml.safe_load((ROOT / "openapi" / "openapi.yaml").read_text(encoding="utf-8"))
    assert carried_spec().document == reviewed


def test_influxds_status_table_covers_the_spec_error_codes() -> None:
    codes, _ = carried_spec().error_codes()
    assert set(codes) == set(influxd.STATUS_OF_CODE)


@pytest.mark.parametrize(
    "value",
    ["2026-05-26T15:42:30Z", "2026-05-26T15:42:58.367340Z", "2026-05-26T15:42:30.1+02:00",
     "2026-05-26t15:42:30z", "2026-05-26T17:42:30.000000000-05:30", "2024-02-29T00:00:00Z",
     "2016-12-31T23:59:60Z", "2017-01-01T00:59:60+01:00"],
)  # fmt: skip
def test_every_rfc3339_form_is_a_date_time(value: str) -> None:
    assert is_date_time(value)


@pytest.mark.parametrize(
    "value",
    ["yesterday", "2026-05-26", "2026-05-26 15:42:30Z", "2026-05-26T15:42:30",
     "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-05-26T24:00:00Z",
     "2026-05-26T15:42:30.Z", "2026-05-26T15:42:30+0200", "2026-05-26T15:42:30+24:00",
     "2026-05-26T15:42:60Z", "26-05-26T15:42:30Z", "2026-05-26T15:42:30Z\n"],
)  # fmt: skip
def test_what_rfc3339_does_not_allow_is_no_date_time(value: str) -> None:
    assert not is_date_time(value)


def test_dates_and_times_alone() -> None:
    assert is_date("2024-02-29") and not is_date("2023-02-29")
    assert is_time("15:42:30.5Z") and not is_time("15:42:30")


@pytest.mark.parametrize(
    ("value", "problem"),
    [("2026-05-26T15:42:30.123456789Z", None), ("2026-05-26T15:42:30Z", None),
     ("2026-05-26T15:42:58.36734Z", None),
     ("2026-05-26T15:42:58.367340Z", "valid RFC 3339, but not as influxd writes it"),
     ("2026-05-26T15:42:30+00:00", "valid RFC 3339, but not as influxd writes it"),
     ("2026-05-26T15:42:30.1234567891Z", "valid RFC 3339, but not as influxd writes it"),
     ("yesterday", "not an RFC 3339 date-time"), (5, "not a string")],
)  # fmt: skip
def test_as_influxd_writes_a_time_is_its_own_question(value: object, problem: str | None) -> None:
    found = influxd.go_time_problem("started", value)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
        if "valid RFC 3339" in problem:
            assert influxd.AS_GO_WRITES_IT in found  # the message says what influxd does


def test_the_spec_validates_formats_in_bodies() -> None:
    document = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {
            "schemas": {
                "Ready": {
                    "type": "object",
                    "properties": {
                        "started": {"type": "string", "format": "date-time"},
                        "count": {"type": "integer", "format": "int32"},
                        "shape": {"type": "string", "format": "not a format anyone knows"},
                    },
                }
            }
        },
    }
    spec = Spec(document, "test")
    pointer = "#/components/schemas/Ready"
    assert (
        spec.schema_errors({"started": "2026-05-26T15:42:58.367340Z", "shape": "x"}, pointer) == []
    )
    [error] = spec.schema_errors({"started": "yesterday"}, pointer)
    assert "date-time" in error.message
    assert len(spec.schema_errors({"count": 2**31}, pointer)) == 1
    assert format_checker().conforms("2026-05-26T15:42:30Z", "date-time")


@pytest.mark.parametrize(
    ("status", "headers", "body", "reason"),
    [
        (
            503,
            (("X-Platform-Error-Code", "unavailable"),),
            b'{"code":"unavailable","message":"metrics unavailable (drill)"}',
            "the server is unavailable (503 unavailable): metrics unavailable (drill)",
        ),
        (503, (("X-Platform-Error-Code", "unavailable"),), b"", gates.UNAVAILABLE),  # a HEAD
        (503, (), b'{"code":"unavailable","message":"x"}', gates.UNAVAILABLE + ": x"),
        (503, (("X-Platform-Error-Code", "internal error"),), b"", None),
        (503, (), b"Service Unavailable", None),
        (500, (("X-Platform-Error-Code", "unavailable"),), b"", None),
        (200, (), b"", None),
    ],
)
def test_a_503_unavailable_withholds_the_answer(
    status: int, headers: tuple[tuple[str, str], ...], body: bytes, reason: str | None
) -> None:
    """An outage (or a failure drill) is the server saying it cannot serve now: the
    checks that needed the answer do not run (INCOMPLETE), they do not fail."""
    response = Received(status, "", (("Content-Type", "application/json"), *headers), body)
    assert gates.unavailable(response) == reason
