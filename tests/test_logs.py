"""Log lines a reader can trust: one line per record, whatever the request carried.

The formatters are tested on records holding every kind of character a client can put
in a path, a method or a header; a live service is then sent requests made to forge
records, and its log is read as a reader would, line by line (splitting on CR, LF and
every other line break Python knows).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import unicodedata

import pytest

from impl.client.rawhttp import RawClient
from impl.http.redact import LOG_MASK, Redactor
from impl.server.logs import (
    TRACEBACK_LIMIT,
    VALUE_LIMIT,
    JsonFormatter,
    LogfmtFormatter,
    logfmt_value,
)
from tests.conftest import StartServer

TOKEN = "tok-3f9a1c77d2e84b5a9c10"
# A logfmt pair: key=bare or key="quoted with \" and \\ escapes".
LOGFMT_PAIR = re.compile(r'[a-z_]+=(?:[^ "=\\]+|"(?:[^"\\]|\\.)*")')
# Every character Unicode (and so str.splitlines) treats as ending a line.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
HOSTILE = (
    "GET /x\rts=2026-01-01T00:00:00Z lvl=error msg=FORGED\n"
    "\x00\x1b[31mred\x1b[0m\x7f\x85\x9b\u2028\u2029\u202e\u2066\u200b\ufeff\u00a0\u3000"
    '"quoted"\\back\tslash =equals'
)


def record(msg: str, *args: object, **fields: object) -> logging.LogRecord:
    made = logging.LogRecord("impl.access", logging.INFO, __file__, 1, msg, args, None)
    made.fields = fields
    return made


def unsafe(char: str) -> bool:
    return unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"} or (
        unicodedata.category(char) == "Zs" and char != " "
    )


def assert_one_clean_logfmt_line(line: str) -> None:
    assert line.splitlines() == [line], "the record spans lines"
    assert not [c for c in line if unsafe(c)], "an unsafe character stands unescaped"
    pairs = LOGFMT_PAIR.findall(line)
    assert " ".join(pairs) == line, "the line is not key=value pairs only"


def test_every_control_and_separator_is_escaped_in_logfmt() -> None:
    line = LogfmtFormatter().format(record("request %s", HOSTILE, path=HOSTILE, method=HOSTILE))
    assert_one_clean_logfmt_line(line)
    keys = [pair.split("=", 1)[0] for pair in LOGFMT_PAIR.findall(line)]
    assert keys == ["ts", "lvl", "logger", "msg", "path", "method"]  # nothing forged
    for escaped in ("\\r", "\\n", "\\u0000", "\\u001b", "\\u0085", "\\u2028", "\\u202e"):
        assert escaped in line


@pytest.mark.parametrize("code", [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)])
def test_each_c0_and_c1_code_is_escaped(code: int) -> None:
    assert_one_clean_logfmt_line(LogfmtFormatter().format(record("m", path=f"a{chr(code)}b")))


def test_plain_values_stay_bare_and_others_are_quoted() -> None:
    assert logfmt_value("/ping") == "/ping"
    assert logfmt_value("") == '""'
    assert logfmt_value("a b") == '"a b"'
    assert logfmt_value("a=b") == '"a=b"'
    assert logfmt_value('say "hi"\\') == '"say \\"hi\\"\\\\"'
    assert logfmt_value("é ü 😀") == '"é ü 😀"'  # printable text is kept as it is


def test_long_values_are_cut_with_a_marker() -> None:
    method = "M" * 100_000
    line = LogfmtFormatter().format(record("request", method=method))
    assert len(line) < VALUE_LIMIT + 200
    assert f"...[{100_000 - VALUE_LIMIT} chars cut]" in line
    assert_one_clean_logfmt_line(line)


def test_tracebacks_are_one_line_and_cut_at_their_own_limit() -> None:
    try:
        raise ValueError("boom\n" + "x" * (2 * TRACEBACK_LIMIT))
    except ValueError:
        failed = logging.LogRecord("impl", logging.ERROR, __file__, 1, "failed", (), None)
        failed.exc_info = sys.exc_info()
    for formatter in (LogfmtFormatter(), JsonFormatter()):
        line = formatter.format(failed)
        assert line.splitlines() == [line]
        assert "chars cut]" in line and "Traceback" in line


def test_tokens_are_masked_before_values_are_cut() -> None:
    # The token straddles the cut: cutting first would leave its first half standing.
    value = "a" * (VALUE_LIMIT - 10) + TOKEN
    for formatter in (LogfmtFormatter(Redactor([TOKEN])), JsonFormatter(Redactor([TOKEN]))):
        line = formatter.format(record(value, accept=value))
        assert TOKEN[:10] not in line
        assert LOG_MASK[:5] in line


def test_json_lines_escape_everything_and_cut_long_values() -> None:
    line = JsonFormatter().format(record("request %s", HOSTILE, path=HOSTILE, method="M" * 5000))
    assert line.isascii() and line.splitlines() == [line]
    parsed = json.loads(line)
    assert parsed["path"] == HOSTILE  # nothing lost but the cut
    assert parsed["method"].endswith(f"...[{5000 - VALUE_LIMIT} chars cut]")


def test_both_formats_write_the_same_iso_8601_utc_timestamp() -> None:
    made = record("request", method="GET")
    made.created, made.msecs = 1_790_000_000.25, 250.0
    logfmt_line = LogfmtFormatter().format(made)
    assert logfmt_line.startswith("ts=2026-09-21T14:13:20.250Z lvl=info ")
    assert json.loads(JsonFormatter().format(made))["ts"] == "2026-09-21T14:13:20.250Z"


def test_recurring_values_are_written_alike_each_time() -> None:
    formatter = LogfmtFormatter(Redactor([TOKEN]))
    lines = [formatter.format(record("request", method=m)) for m in ("GET", TOKEN, "GET", TOKEN)]
    assert [line.split(" method=")[1] for line in lines] == ["GET", LOG_MASK, "GET", LOG_MASK]


@pytest.mark.parametrize("log_format", ["logfmt", "json"])
def test_forged_requests_make_one_clean_line_each(
    start_server: StartServer, log_format: str
) -> None:
    live = start_server("--log-format", log_format, "--max-header-size", "200000")
    forged = [
        "/x%0dts=2026-01-01T00:00:00Z%20lvl=error%20msg=FORGED",
        "/x%0a%1b[2J%1b[31mred%c2%85next%e2%80%a8ls%e2%80%a9ps%e2%80%aertl%00nul",
        "/" + "%e2%80%ae" * 50,
    ]
    with RawClient(live.port) as client:
        for path in forged:
            assert client.request("GET", path).status == 404
        # A 100 KB method, within the raised head limit: answered 405, logged cut.
        assert client.request("X" * 100_000, "/ping").status == 405
    live.stop()
    lines = live.log().splitlines()
    access = [line for line in lines if "impl.access" in line]
    assert len(access) == len(forged) + 1 + 1  # + the start-up check's ping
    levels = []
    for line in lines:
        assert len(line) < 4 * VALUE_LIMIT + 400, line[:200]
        if log_format == "json":
            assert line.isascii()
            levels.append(json.loads(line)["lvl"])
        else:
            assert_one_clean_logfmt_line(line)
            keys = [pair.split("=", 1) for pair in LOGFMT_PAIR.findall(line)]
            assert [key for key, _ in keys][:2] == ["ts", "lvl"]
            levels.append(keys[1][1])
    # The forged "lvl=error msg=FORGED" stayed inside a value: no record is an error.
    assert "error" not in levels
