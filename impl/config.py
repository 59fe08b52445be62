"""Service configuration: command-line flags, each with an environment-variable twin."""

from __future__ import annotations

import argparse
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "INFLUXDB_SYSINFO_"
DEFAULT_VERSION = "2.7.12"  # the influxd release whose behaviour the service follows
DEFAULT_BUILD = "OSS"
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("logfmt", "json")
# Limits (README "Reliability"). 16 KiB of request head is h11's own default, and
# Node's; influxd reads request heads for at most 10 s (--http-read-header-timeout).
DEFAULT_MAX_HEADER_SIZE = 16 * 1024
DEFAULT_HEADER_TIMEOUT = 10
DEFAULT_KEEP_ALIVE_TIMEOUT = 5
DEFAULT_MAX_CONNECTIONS = 512  # per process; well under the usual 1024 open files


class ConfigError(ValueError):
    """The configuration cannot start a service; the message says which setting."""


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8086
    workers: int = 1
    # Only used with workers > 1; None: a new private temporary directory (impl/workers.py).
    multiproc_dir: Path | None = None
    state_dir: Path = field(default_factory=lambda: Path(".state"))
    version: str = DEFAULT_VERSION
    build: str = DEFAULT_BUILD
    commit: str = "unknown"
    metrics_disabled: bool = False
    # Token-protected mode is on when any token is configured. Kept out of repr so a
    # logged or printed Config never shows a secret.
    tokens: tuple[str, ...] = field(default=(), repr=False)
    protect_system_endpoints: bool = False
    log_level: str = "info"
    log_format: str = "logfmt"
    max_header_size: int = DEFAULT_MAX_HEADER_SIZE
    header_timeout: int = DEFAULT_HEADER_TIMEOUT
    keep_alive_timeout: int = DEFAULT_KEEP_ALIVE_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    @property
    def token_protected(self) -> bool:
        return bool(self.tokens)


def _env_name(option: str) -> str:
    return ENV_PREFIX + option.upper().replace("-", "_")


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"not a boolean: {value!r}")


def _optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="influxdb-sysinfo",
        description="Serve the InfluxDB OSS v2 system-information API. Every flag has an "
        f"environment twin: {ENV_PREFIX}<FLAG> (e.g. {ENV_PREFIX}PORT).",
    )
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default 8086)")
    parser.add_argument(
        "--workers",
        type=int,
        help="worker processes (default 1); more than 1 runs gunicorn with uvicorn workers",
    )
    parser.add_argument(
        "--multiproc-dir",
        metavar="DIR",
        help="with --workers > 1: directory for the workers' shared metric files "
        "(default: a new private temporary directory); it must hold nothing but those "
        "files, is made mode 0700 and wiped at start, and removed at exit",
    )
    parser.add_argument("--state-dir", help="directory for the instance ID (default .state)")
    parser.add_argument(
        "--version",
        dest="influx_version",
        metavar="VERSION",
        help=f"X-Influxdb-Version value (default {DEFAULT_VERSION})",
    )
    parser.add_argument("--build", help=f"X-Influxdb-Build value (default {DEFAULT_BUILD})")
    parser.add_argument("--commit", help="commit reported by /health and influxdb_info")
    parser.add_argument(
        "--metrics-disabled",
        action="store_const",
        const="true",
        help="answer /metrics with 403, as influxd --metrics-disabled",
    )
    parser.add_argument(
        "--token-file",
        help="file with one accepted token per line (# starts a comment line); "
        "turns on token-protected mode",
    )
    parser.add_argument(
        "--protect-system-endpoints",
        action="store_const",
        const="true",
        help="in token-protected mode, also require a token on /health, /ready and /ping",
    )
    parser.add_argument("--log-level", choices=LOG_LEVELS)
    parser.add_argument("--log-format", choices=LOG_FORMATS)
    parser.add_argument(
        "--max-header-size",
        type=int,
        metavar="BYTES",
        help="largest request line and headers accepted, together; larger ones get 431 "
        f"(default {DEFAULT_MAX_HEADER_SIZE})",
    )
    parser.add_argument(
        "--header-timeout",
        type=int,
        metavar="SECONDS",
        help="time a client has to send a request head (from connecting, or from its "
        "first byte), and then any body; an unfinished request gets 408, an idle new "
        f"connection is closed (default {DEFAULT_HEADER_TIMEOUT})",
    )
    parser.add_argument(
        "--keep-alive-timeout",
        type=int,
        metavar="SECONDS",
        help="idle time after a response before the connection is closed "
        f"(default {DEFAULT_KEEP_ALIVE_TIMEOUT})",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help="open connections per process; requests on connections beyond it get 503 "
        f"(default {DEFAULT_MAX_CONNECTIONS})",
    )
    return parser


def read_token_file(path: Path) -> tuple[str, ...]:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read token file {path}: {err.strerror}") from err
    if mode & stat.S_IROTH:
        raise ConfigError(f"token file {path} is world-readable: chmod o-r {path}")
    lines = (line.strip() for line in text.splitlines())
    tokens = tuple(line for line in lines if line and not line.startswith("#"))
    if not tokens:
        raise ConfigError(f"token file {path} holds no token")
    return tokens


def load_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Flags win over environment variables, which win over defaults."""
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)

    def pick(flag_value: str | int | None, option: str) -> str | None:
        if flag_value is not None:
            return str(flag_value)
        return env.get(_env_name(option))

    def number(option: str, value: str | None, default: int, low: int, high: int) -> int:
        if value is None:
            return default
        try:
            parsed = int(value)
        except ValueError:
            raise ConfigError(f"--{option} must be an integer, got {value!r}") from None
        if not low <= parsed <= high:
            raise ConfigError(f"--{option} must be between {low} and {high}, got {parsed}")
        return parsed

    def choice(option: str, value: str | None, allowed: Sequence[str], default: str) -> str:
        if value is None:
            return default
        if value not in allowed:
            raise ConfigError(f"--{option} must be one of {', '.join(allowed)}, got {value!r}")
        return value

    tokens: tuple[str, ...] = ()
    token_file = pick(args.token_file, "token-file")
    if token_file:
        tokens = read_token_file(Path(token_file))
    elif env.get(ENV_PREFIX + "TOKENS"):
        tokens = tuple(t for t in env[ENV_PREFIX + "TOKENS"].split(",") if t.strip())
        tokens = tuple(t.strip() for t in tokens)

    return Config(
        host=pick(args.host, "host") or "127.0.0.1",
        port=number("port", pick(args.port, "port"), 8086, 0, 65535),
        workers=number("workers", pick(args.workers, "workers"), 1, 1, 64),
        multiproc_dir=_optional_path(pick(args.multiproc_dir, "multiproc-dir")),
        state_dir=Path(pick(args.state_dir, "state-dir") or ".state"),
        version=pick(args.influx_version, "version") or DEFAULT_VERSION,
        build=pick(args.build, "build") or DEFAULT_BUILD,
        commit=pick(args.commit, "commit") or "unknown",
        metrics_disabled=_bool(pick(args.metrics_disabled, "metrics-disabled") or "false"),
        tokens=tokens,
        protect_system_endpoints=_bool(
            pick(args.protect_system_endpoints, "protect-system-endpoints") or "false"
        ),
        log_level=choice("log-level", pick(args.log_level, "log-level"), LOG_LEVELS, "info"),
        log_format=choice("log-format", pick(args.log_format, "log-format"), LOG_FORMATS, "logfmt"),
        max_header_size=number(
            "max-header-size",
            pick(args.max_header_size, "max-header-size"),
            DEFAULT_MAX_HEADER_SIZE,
            1024,
            1024 * 1024,
        ),
        header_timeout=number(
            "header-timeout",
            pick(args.header_timeout, "header-timeout"),
            DEFAULT_HEADER_TIMEOUT,
            1,
            3600,
        ),
        keep_alive_timeout=number(
            "keep-alive-timeout",
            pick(args.keep_alive_timeout, "keep-alive-timeout"),
            DEFAULT_KEEP_ALIVE_TIMEOUT,
            1,
            3600,
        ),
        max_connections=number(
            "max-connections",
            pick(args.max_connections, "max-connections"),
            DEFAULT_MAX_CONNECTIONS,
            1,
            100_000,
        ),
    )
