"""Service configuration: one table, the `Config` fields, from which the flags, their
environment twins, the defaults, `--help` and the README's table all come. Values are
read as text (a flag wins over its environment twin `INFLUXDB_SYSINFO_<FLAG>`, which wins
over the default) and checked in one place: a bad value gets one message from either."""

from __future__ import annotations

import argparse
import difflib
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import Field, dataclass, field, fields, replace
from importlib import metadata
from pathlib import Path
from typing import Any

DISTRIBUTION = "influxdb-sysinfo"
ENV_PREFIX = "INFLUXDB_SYSINFO_"
TOKENS_ENV = ENV_PREFIX + "TOKENS"  # comma-separated; the one setting without a flag
LOG_LEVELS = ("debug", "info", "warning", "error")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")  # "": an empty environment twin means off


class ConfigError(ValueError):
    """The configuration cannot start a service; the message says which setting."""


def setting(
    default: Any,
    help: str,  # noqa: A002  # argparse's own word for it
    *,
    bounds: tuple[int, int] | None = None,
    choices: tuple[str, ...] = (),
    shown_default: str | None = None,
) -> Any:
    """A configurable field: a flag `--name-with-dashes` and its environment twin."""
    meta = {"help": help, "bounds": bounds, "choices": choices, "shown": shown_default}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Config:
    host: str = setting("127.0.0.1", "address to bind")
    port: int = setting(
        8086, "port to bind (0: any free port; the log says which)", bounds=(0, 65535)
    )
    workers: int = setting(
        1, "worker processes; more than 1 runs gunicorn with uvicorn workers", bounds=(1, 64)
    )
    multiproc_dir: Path | None = setting(
        None,
        "with --workers > 1: directory for the workers' metric files, owned by one instance "
        "at a time (a lock file in it); it must hold nothing but those files, is made mode "
        "0700 and wiped at start; the instance removes what it created at exit",
        shown_default="a new temporary directory",
    )
    # gunicorn's own names and meaning: slow leaks in a worker never outlive it.
    max_requests: int = setting(
        0,
        "with --workers > 1: a worker is replaced after answering this many requests "
        "(0: never); its counts stay in the totals",
        bounds=(0, 2**31 - 1),
    )
    max_requests_jitter: int = setting(
        0,
        "with --max-requests: each worker's limit is raised by a random 0..N, so that "
        "workers are not all replaced at once",
        bounds=(0, 2**31 - 1),
    )
    state_dir: Path = setting(Path(".state"), "where the instance ID is kept; must be writable")
    # The influxd release whose behaviour the service follows, written as influxd writes
    # its own: with a leading v.
    influxdb_version: str = setting(
        "v2.7.12", "the InfluxDB version reported: `X-Influxdb-Version`, /health, influxdb_info"
    )
    build: str = setting("OSS", "`X-Influxdb-Build`")
    commit: str = setting("unknown", "commit in /health and influxdb_info")
    metrics_disabled: bool = setting(False, "/metrics answers 403, as influxd --metrics-disabled")
    token_file: Path | None = setting(
        None,
        "one accepted token per line (`#` starts a comment); turns on token-protected mode; "
        f"refused if world-readable. `{TOKENS_ENV}` (comma-separated) does the same",
        shown_default="none",
    )
    protect_system_endpoints: bool = setting(
        False, "in token-protected mode, also require a token on /health, /ready and /ping"
    )
    log_level: str = setting("info", "least severe level logged", choices=LOG_LEVELS)
    log_format: str = setting("logfmt", "log line format", choices=("logfmt", "json"))
    # 16 KiB of request head is h11's own default, and Node's.
    max_header_size: int = setting(
        16 * 1024, "bytes of request line and headers accepted; more: 431", bounds=(1024, 2**20)
    )
    # influxd reads request heads for at most 10 s (--http-read-header-timeout).
    header_timeout: int = setting(
        10,
        "seconds to send a request head (from connecting, or from its first byte), then "
        "any body; an unfinished request gets 408, an idle new connection is closed",
        bounds=(1, 3600),
    )
    keep_alive_timeout: int = setting(
        5, "seconds an idle connection stays open after a response", bounds=(1, 3600)
    )
    # Per process; well under the usual limit of 1024 open files.
    max_connections: int = setting(
        512, "open connections per process; requests on further ones get 503", bounds=(1, 100_000)
    )
    # Prometheus' default scrape timeout: a response not taken by then is of no use.
    send_timeout: int = setting(
        10,
        "seconds a client that does not read may hold a response: once its unsent part "
        "passes 64 KiB, the client must take it within this time or the connection is "
        "closed",
        bounds=(1, 3600),
    )
    # Enough for the few label sets real clients make (README: Reliability).
    max_http_series: int = setting(
        100,
        "label sets of the HTTP metrics; requests beyond them are counted under "
        "`overflow` labels (and in http_api_overflow_requests_total)",
        bounds=(1, 100_000),
    )
    max_concurrent_scrapes: int = setting(
        2, "/metrics responses rendered at once per process", bounds=(1, 64)
    )
    max_queued_scrapes: int = setting(
        16,
        "/metrics `name[]` selections waiting for one of those per process (alike ones "
        "share one; the whole exposition always has a place); more wait up to 10 s, then 503",
        bounds=(0, 10_000),
    )
    # HTTPS as influxd serves it: its flag names, meanings and defaults (impl/server/tls.py).
    tls_cert: Path | None = setting(
        None,
        "TLS certificate file (PEM: the certificate, then any intermediates); with "
        "--tls-key, the service speaks HTTPS only; re-read when the file changes",
        shown_default="none",
    )
    tls_key: Path | None = setting(
        None,
        "TLS private key file (PEM, unencrypted) of --tls-cert; re-read when it changes",
        shown_default="none",
    )
    tls_min_version: str = setting(
        "1.2",
        "minimum accepted TLS version (1.0 and 1.1 are discouraged: a warning is logged)",
        choices=("1.0", "1.1", "1.2", "1.3"),
    )
    tls_strict_ciphers: bool = setting(
        False,
        "in TLS 1.2, accept only influxd's list of ciphers: ECDHE key exchange with AES-GCM "
        "or ChaCha20-Poly1305 (TLS 1.3 has no others)",
    )
    # Off unless set: no request can start a drill, only whoever may write this file.
    drill_file: Path | None = setting(
        None,
        "a JSON document that makes the service answer as a failing influxd on purpose "
        "(failure drills: /health fail, /ready 503, /metrics slow or 503); read again when "
        "it changes, no drill while it is absent",
        shown_default="none: no drills",
    )
    # Never a flag: from token_file or TOKENS_ENV. Out of repr: no printed Config shows one.
    tokens: tuple[str, ...] = field(default=(), repr=False)

    @property
    def token_protected(self) -> bool:
        return bool(self.tokens)


def settings() -> Iterator[tuple[Field[Any], str, str]]:
    """Each setting's field, flag and environment twin."""
    for each in fields(Config):
        if "help" in each.metadata:
            yield each, "--" + each.name.replace("_", "-"), ENV_PREFIX + each.name.upper()


def shown_default(setting_field: Field[Any], markdown: bool = False) -> str:
    """The default as words (`shown_default`) or as the value, code-quoted in markdown."""
    if setting_field.metadata["shown"] is not None:
        return str(setting_field.metadata["shown"])
    text = "off" if setting_field.default is False else str(setting_field.default)
    return f"`{text}`" if markdown else text


def program_version() -> str:
    """The installed distribution's version (the project's, not InfluxDB's)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="influxdb-sysinfo",
        description="Serve the InfluxDB OSS v2 system-information API. Every flag has an "
        f"environment twin, {ENV_PREFIX}<FLAG> (e.g. {ENV_PREFIX}PORT); flags win.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {program_version()}")
    for each, flag, _ in settings():
        help_text = f"{each.metadata['help']} (default: {shown_default(each)})"
        if each.type == "bool":
            parser.add_argument(flag, action="store_const", const="true", help=help_text)
        else:
            parser.add_argument(flag, choices=each.metadata["choices"] or None, help=help_text)
    return parser


def _parse(setting_field: Field[Any], name: str, text: str) -> Any:
    meta = setting_field.metadata
    kind = str(setting_field.type)
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered not in TRUE_WORDS + FALSE_WORDS:
            raise ConfigError(f"{name}: not a boolean: {text!r}")
        return lowered in TRUE_WORDS
    if kind == "int":
        try:
            number = int(text)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {text!r}") from None
        low, high = meta["bounds"]
        if not low <= number <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, got {number}")
        return number
    if meta["choices"] and text not in meta["choices"]:
        raise ConfigError(f"{name} must be one of {', '.join(meta['choices'])}, got {text!r}")
    return Path(text) if "Path" in kind else text


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
    env = os.environ if environ is None else environ
    args = vars(build_parser().parse_args(argv))
    values: dict[str, Any] = {}
    for each, flag, env_name in settings():
        text = args[each.name] if args[each.name] is not None else env.get(env_name)
        if text is not None and (text or each.type == "bool"):
            values[each.name] = _parse(each, flag, text)
    config = Config(**values)
    if config.token_file is not None:
        return replace(config, tokens=read_token_file(config.token_file))
    tokens = (token.strip() for token in env.get(TOKENS_ENV, "").split(","))
    return replace(config, tokens=tuple(token for token in tokens if token))


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """A warning for each `INFLUXDB_SYSINFO_*` variable no setting reads (a typo is
    otherwise silently ignored), naming the nearest known one."""
    env = os.environ if environ is None else environ
    known = [env_name for _, _, env_name in settings()] + [TOKENS_ENV]
    # Compared without the prefix they all share, which would make every name look near.
    suffixes = [name.removeprefix(ENV_PREFIX) for name in known]
    warnings = []
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in known:
            suffix = name.removeprefix(ENV_PREFIX)
            nearest = difflib.get_close_matches(suffix, suffixes, n=1, cutoff=0.6)
            hint = f"; did you mean {ENV_PREFIX}{nearest[0]}?" if nearest else ""
            warnings.append(f"unknown environment variable {name} ignored{hint}")
    return warnings


def markdown_table() -> str:
    """The README's configuration table."""
    lines = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for each, flag, env_name in settings():
        meaning = each.metadata["help"]
        if each.metadata["choices"]:
            meaning += ": " + ", ".join(f"`{choice}`" for choice in each.metadata["choices"])
        default = shown_default(each, markdown=True)
        lines.append(f"| `{flag}` | `{env_name}` | {default} | {meaning} |")
    return "\n".join(lines) + "\n"


__all__ = [
    "Config",
    "ConfigError",
    "build_parser",
    "load_config",
    "markdown_table",
    "program_version",
    "unknown_variables",
]
