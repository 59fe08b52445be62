"""Configuration: flags, environment twins, defaults, and clear start-up failures."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from impl.server.config import (
    ConfigError,
    build_parser,
    load_config,
    markdown_table,
    unknown_variables,
)


def test_defaults() -> None:
    config = load_config([], {})
    assert (config.host, config.port, config.workers) == ("127.0.0.1", 8086, 1)
    assert config.influxdb_version == "v2.7.12" and config.build == "OSS"
    assert not config.token_protected and not config.metrics_disabled


def test_environment_then_flags_win() -> None:
    env = {"INFLUXDB_SYSINFO_PORT": "9999", "INFLUXDB_SYSINFO_METRICS_DISABLED": "true"}
    assert load_config([], env).port == 9999
    assert load_config([], env).metrics_disabled
    assert load_config(["--port", "7777"], env).port == 7777


def test_limits_have_defaults_flags_and_environment_twins() -> None:
    defaults = load_config([], {})
    assert (defaults.max_header_size, defaults.header_timeout) == (16384, 10)
    assert (defaults.keep_alive_timeout, defaults.max_connections) == (5, 512)
    env = {
        "INFLUXDB_SYSINFO_MAX_HEADER_SIZE": "8192",
        "INFLUXDB_SYSINFO_HEADER_TIMEOUT": "3",
        "INFLUXDB_SYSINFO_KEEP_ALIVE_TIMEOUT": "7",
        "INFLUXDB_SYSINFO_MAX_CONNECTIONS": "64",
    }
    config = load_config(["--max-connections", "32"], env)
    assert (config.max_header_size, config.header_timeout) == (8192, 3)
    assert (config.keep_alive_timeout, config.max_connections) == (7, 32)


def test_readme_configuration_table_is_the_settings_table() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme


def test_every_setting_has_a_flag_with_its_default_in_help() -> None:
    text = " ".join(build_parser().format_help().split())
    for line in markdown_table().splitlines()[2:]:
        flag = line.split("`")[1]
        assert flag in text, flag
    assert "(default: 16384)" in text and "(default: a new temporary directory)" in text


def test_help_documents_every_limit() -> None:
    text = build_parser().format_help()
    for flag in (
        "--max-header-size",
        "--header-timeout",
        "--keep-alive-timeout",
        "--max-connections",
    ):
        assert flag in text


def test_influxdb_version_has_its_own_flag_and_variable() -> None:
    assert load_config(["--influxdb-version", "v2.8.0"], {}).influxdb_version == "v2.8.0"
    env = {"INFLUXDB_SYSINFO_INFLUXDB_VERSION": "v2.3.0+SNAPSHOT.090f681737"}
    assert load_config([], env).influxdb_version == "v2.3.0+SNAPSHOT.090f681737"


def test_unknown_variables_are_named_with_the_nearest_known_one() -> None:
    env = {
        "INFLUXDB_SYSINFO_PROT": "9999",
        "INFLUXDB_SYSINFO_MAX_CONECTIONS": "3",
        "INFLUXDB_SYSINFO_ZZZZZZZZ": "1",
        "INFLUXDB_SYSINFO_TOKENS": "t",
        "INFLUXDB_SYSINFO_PORT": "1",
        "HOME": "/root",
    }
    assert unknown_variables(env) == [
        "unknown environment variable INFLUXDB_SYSINFO_MAX_CONECTIONS ignored; "
        "did you mean INFLUXDB_SYSINFO_MAX_CONNECTIONS?",
        "unknown environment variable INFLUXDB_SYSINFO_PROT ignored; "
        "did you mean INFLUXDB_SYSINFO_PORT?",
        "unknown environment variable INFLUXDB_SYSINFO_ZZZZZZZZ ignored",
    ]


def test_tokens_never_in_repr() -> None:
    config = load_config([], {"INFLUXDB_SYSINFO_TOKENS": "abc123secret, def456"})
    assert config.tokens == ("abc123secret", "def456")
    assert "abc123secret" not in repr(config)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {"INFLUXDB_SYSINFO_PORT": "http"}, "--port must be an integer"),
        (["--port", "70000"], {}, "--port must be between"),
        (["--workers", "0"], {}, "--workers must be between"),
        ([], {"INFLUXDB_SYSINFO_LOG_LEVEL": "loud"}, "--log-level must be one of"),
        ([], {"INFLUXDB_SYSINFO_METRICS_DISABLED": "maybe"}, "not a boolean"),
        (["--token-file", "/nonexistent/tokens"], {}, "cannot read token file"),
        (["--token-file", "/"], {}, "cannot read token file /: Is a directory"),
        (["--max-header-size", "100"], {}, "--max-header-size must be between 1024"),
        ([], {"INFLUXDB_SYSINFO_HEADER_TIMEOUT": "0"}, "--header-timeout must be between 1"),
        ([], {"INFLUXDB_SYSINFO_KEEP_ALIVE_TIMEOUT": "soon"}, "--keep-alive-timeout must be an"),
        (["--max-connections", "0"], {}, "--max-connections must be between 1"),
    ],
)
def test_invalid_configuration(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(argv, env)


def test_world_readable_token_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("abc\n", encoding="utf-8")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="world-readable"):
        load_config(["--token-file", str(path)], {})


def run_service(
    *args: str, timeout: float = 20, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "impl.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_version_prints_the_program_version_and_exits_0() -> None:
    result = run_service("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"influxdb-sysinfo {metadata.version('influxdb-sysinfo')}\n"


def test_mistyped_variable_is_warned_about_at_start(tmp_path: Path) -> None:
    # An unusable state directory stops the service right after the warnings are logged.
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    env = {**os.environ, "INFLUXDB_SYSINFO_LOG_FORMATT": "json"}
    result = run_service("--port", "0", "--state-dir", str(blocker / "state"), env=env)
    assert result.returncode == 2
    assert "INFLUXDB_SYSINFO_LOG_FORMATT" in result.stderr
    assert "did you mean INFLUXDB_SYSINFO_LOG_FORMAT?" in result.stderr


def test_startup_fails_clearly_on_bad_configuration(tmp_path: Path) -> None:
    result = run_service("--port", "nope", "--state-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == "influxdb-sysinfo: --port must be an integer, got 'nope'\n"
    assert "Traceback" not in result.stderr


def test_startup_fails_clearly_on_unusable_state_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    result = run_service("--port", "0", "--state-dir", str(blocker / "state"))
    assert result.returncode == 2
    assert "state directory" in result.stderr and "is not usable" in result.stderr
    assert "Traceback" not in result.stderr


def test_startup_fails_clearly_on_unreadable_token_file(tmp_path: Path) -> None:
    result = run_service("--token-file", str(tmp_path / "missing"), "--state-dir", str(tmp_path))
    assert result.returncode == 2
    assert "cannot read token file" in result.stderr


def test_startup_fails_clearly_when_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_service("--port", str(port), "--state-dir", str(tmp_path))
    assert result.returncode == 2
    # One line, before anything claims to have started.
    assert result.stderr.splitlines() == [
        f"influxdb-sysinfo: cannot listen on 127.0.0.1:{port}: address already in use"
    ]


def test_instance_id_survives_restart(tmp_path: Path) -> None:
    from impl.server.identity import load_or_create_instance_id

    first = load_or_create_instance_id(tmp_path)
    assert len(first) == 16 and int(first, 16) >= 0
    assert load_or_create_instance_id(tmp_path) == first
