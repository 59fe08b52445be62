"""HTTPS as influxd serves it: `--tls-cert` and `--tls-key` (PEM), `--tls-min-version`
and `--tls-strict-ciphers`, with influxd's names, meanings and defaults.

The pair is read at start, where a file that cannot be used stops the service with one
line, and read again whenever either file changes (device, inode, size, modification or
change time), so that a renewed certificate is served without a restart: the protocol
(impl/http/protocol.py) asks `context()` at each new connection, and its handshake uses
the context made from the files as they were then. A pair that does not load (a file
half written, a key of another certificate) is not tried again until the files change;
the previous pair is served meanwhile, and the refusal logged once it has stood for
`SETTLE_SECONDS` (a rotation that replaces the files one after the other passes through
a mismatched pair for a moment, which is no error). Each worker of --workers N watches
the files for itself.

Nothing read from the key file is ever logged: messages name the files, not their content.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
import warnings
from pathlib import Path

from impl.server.config import Config, ConfigError

log = logging.getLogger(__name__)

MIN_VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}
DISCOURAGED_VERSIONS = ("1.0", "1.1")
# influxd's --tls-strict-ciphers list (Mozilla's "intermediate" for Go), in OpenSSL's names.
# It binds TLS 1.2 only: TLS 1.3's suites are all of this kind, and neither Go nor OpenSSL
# lets them be chosen this way.
STRICT_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
# TLS 1.0 and 1.1 sign handshakes with SHA-1, which OpenSSL's default security level
# refuses: asked for them, as influxd (Go) allows them, the service lowers the level.
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"
# How long a pair must have failed to load before it is logged as refused.
SETTLE_SECONDS = 1.0
# The service speaks HTTP/1.1 only; saying so lets a client that offers h2 fall back at once.
ALPN = ["http/1.1"]

# What identifies a file's content without reading it: device, inode, size, mtime, ctime
# (a rename changes the inode, an in-place write the times); or why it could not be seen.
Stamp = tuple[tuple[int, ...] | str, ...]


class TlsFileError(ConfigError):
    """The certificate or key cannot be served; the message names the file and why."""


class _Encrypted(Exception):
    """OpenSSL asked for a passphrase: the key is encrypted."""


def _no_passphrase() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal, and wait there for ever.
    raise _Encrypted


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise TlsFileError(f"cannot read {flag} {path}: {_reason(err)}") from None


def _reason(err: OSError) -> str:
    return (err.strerror or str(err)).lower()


def _has_certificate(pem: bytes) -> bool:
    try:
        ssl.create_default_context(cadata=pem.decode("latin-1"))
    except (ssl.SSLError, ValueError):
        return False
    return True


def build_context(cert: Path, key: Path, min_version: str, strict_ciphers: bool) -> ssl.SSLContext:
    """A server context for this certificate and key, or TlsFileError saying why not."""
    cert_pem = _read(cert, "--tls-cert")
    _read(key, "--tls-key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():  # Python deprecates 1.0 and 1.1; influxd accepts them
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = MIN_VERSIONS[min_version]
    if min_version in DISCOURAGED_VERSIONS:
        context.set_ciphers(LEGACY_CIPHERS)
    if strict_ciphers:
        context.set_ciphers(STRICT_CIPHERS)
    context.set_alpn_protocols(ALPN)
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except _Encrypted:
        raise TlsFileError(f"--tls-key {key} is encrypted; give the key unencrypted") from None
    except OSError as err:  # ssl.SSLError is one; so is a file gone since it was read
        if isinstance(err, ssl.SSLError) and err.reason == "KEY_VALUES_MISMATCH":
            why = f"--tls-key {key} is not the key of the certificate in --tls-cert {cert}"
        elif not isinstance(err, ssl.SSLError):
            why = f"cannot read --tls-cert {cert} or --tls-key {key}: {_reason(err)}"
        elif not _has_certificate(cert_pem):
            why = f"--tls-cert {cert} holds no PEM certificate"
        else:
            why = f"--tls-key {key} holds no PEM private key"
        raise TlsFileError(why) from None
    return context


def _stamp(paths: tuple[Path, ...]) -> Stamp:
    stamps: list[tuple[int, ...] | str] = []
    for path in paths:
        try:
            s = os.stat(path)
        except OSError as err:
            stamps.append(_reason(err))
            continue
        stamps.append((s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns))
    return tuple(stamps)


class CertificateFiles:
    """The certificate and key at their paths, served as they are now: `context()` is
    the context of the files' current content, or of the last content that loaded."""

    def __init__(self, cert: Path, key: Path, min_version: str, strict_ciphers: bool) -> None:
        self.cert = cert
        self.key = key
        self.min_version = min_version
        self.strict_ciphers = strict_ciphers
        # Stamped before reading: a change while reading is seen at the next handshake.
        self._loaded = _stamp((cert, key))
        self._context = self._build()
        self._refused: Stamp | None = None
        self._refusal: tuple[float, str] | None = None  # since when, why; None once logged

    def _build(self) -> ssl.SSLContext:
        return build_context(self.cert, self.key, self.min_version, self.strict_ciphers)

    def context(self) -> ssl.SSLContext:
        stamp = _stamp((self.cert, self.key))
        if stamp == self._loaded:
            return self._context
        if stamp == self._refused:
            self._log_refusal()
            return self._context
        try:
            context = self._build()
        except TlsFileError as err:
            self._refused, self._refusal = stamp, (time.monotonic(), str(err))
            return self._context
        self._context, self._loaded, self._refused, self._refusal = context, stamp, None, None
        log.info("TLS certificate reloaded", extra={"fields": self._fields()})
        return context

    def _log_refusal(self) -> None:
        if self._refusal is None or time.monotonic() - self._refusal[0] < SETTLE_SECONDS:
            return
        fields = {**self._fields(), "reason": self._refusal[1]}
        self._refusal = None
        log.error(
            "TLS certificate not reloaded: still serving the previous one",
            extra={"fields": fields},
        )

    def _fields(self) -> dict[str, str]:
        return {"cert": str(self.cert), "key": str(self.key)}


def server_tls(config: Config) -> CertificateFiles | None:
    """The certificate files to serve, None without TLS; ConfigError when they cannot be."""
    cert, key = config.tls_cert, config.tls_key
    if cert is None and key is None:
        return None
    # influxd falls back to plain HTTP with a warning here: clients would send their tokens
    # in clear to a service its operator meant to be HTTPS only.
    if cert is None:
        raise ConfigError("--tls-key needs --tls-cert")
    if key is None:
        raise ConfigError("--tls-cert needs --tls-key")
    files = CertificateFiles(cert, key, config.tls_min_version, config.tls_strict_ciphers)
    settings = {
        "cert": str(cert),
        "key": str(key),
        "tls_min_version": config.tls_min_version,
        "tls_strict_ciphers": config.tls_strict_ciphers,
    }
    log.info("serving HTTPS only", extra={"fields": settings})
    if config.tls_min_version in DISCOURAGED_VERSIONS:
        log.warning(
            "TLS %s accepted: discouraged, use 1.2 or 1.3",
            config.tls_min_version,
            extra={"fields": {"tls_min_version": config.tls_min_version}},
        )
    if config.tls_strict_ciphers and config.tls_min_version == "1.3":
        log.warning("--tls-strict-ciphers has no effect with TLS 1.3, whose ciphers are fixed")
    return files


__all__ = ["CertificateFiles", "TlsFileError", "build_context", "server_tls"]
