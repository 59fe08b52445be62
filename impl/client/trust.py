"""TLS for this package's clients: which CA certificates they trust (`ca_cert`, the
system's by default), not checking the server's certificate at all (`skip_verify`, the
influx CLI's `--skip-verify`), and one line saying why a server's certificate or
handshake was refused ("TLS: certificate has expired"), in the words of Go's clients,
which influxd's users know."""

from __future__ import annotations

import os
import re
import ssl

# OpenSSL's X509_V_ERR_* codes the clients name.
_EXPIRED = 10
_NOT_YET_VALID = 9
_HOST_MISMATCHES = frozenset({62, 64})  # host name, IP address
# No path from the certificate to a trusted root: self-signed, or from a CA not trusted.
_UNKNOWN_AUTHORITY = frozenset({2, 18, 19, 20, 21})
_QUOTED = re.compile(r"'([^']*)'")
_SEARCH_DEPTH = 8

PathLike = str | os.PathLike[str]


def check_ca_file(path: PathLike) -> str:
    """The path of a file of PEM CA certificates, as text; ValueError when it cannot serve."""
    try:
        ssl.create_default_context(cafile=os.fspath(path))
    except OSError as err:  # ssl.SSLError is one: then the file holds no certificate
        no_pem = isinstance(err, ssl.SSLError) or not err.strerror
        why = "it holds no PEM certificate" if no_pem else str(err.strerror).lower()
        raise ValueError(f"cannot use CA certificates from {os.fspath(path)}: {why}") from None
    return os.fspath(path)


def _ssl_error(error: BaseException) -> ssl.SSLError | None:
    """The ssl error behind `error`, found through causes, contexts, urllib3's `reason`
    and exception arguments (urllib3 wraps it in each of these ways)."""
    seen: list[BaseException] = [error]
    for _ in range(_SEARCH_DEPTH):
        found = [each for each in seen if isinstance(each, ssl.SSLError)]
        if found:
            return found[0]
        behind: list[BaseException] = []
        for each in seen:
            candidates = [each.__cause__, each.__context__, getattr(each, "reason", None)]
            candidates += list(each.args)
            behind += [c for c in candidates if isinstance(c, BaseException)]
        if not behind:
            return None
        seen = behind
    return None


class Refusal:
    """Why a TLS connection failed, in one line; `unknown_authority` when the server's
    certificate leads to no trusted CA (the case `--ca-cert` is for)."""

    def __init__(self, message: str, unknown_authority: bool = False) -> None:
        self.message = message
        self.unknown_authority = unknown_authority


def refusal(error: BaseException) -> Refusal | None:
    """Why `error` happened, if a TLS check or handshake is behind it; else None."""
    found = _ssl_error(error)
    if found is None:
        return None
    if isinstance(found, ssl.SSLCertVerificationError):
        code = found.verify_code
        if code == _EXPIRED:
            return Refusal("TLS: certificate has expired")
        if code == _NOT_YET_VALID:
            return Refusal("TLS: certificate is not yet valid")
        if code in _HOST_MISMATCHES:
            named = _QUOTED.search(found.verify_message or "")
            host = named.group(1) if named else "this host"
            return Refusal(f"TLS: certificate is not valid for {host}")
        if code in _UNKNOWN_AUTHORITY:
            return Refusal("TLS: certificate signed by an unknown authority", True)
        return Refusal(f"TLS: certificate refused: {found.verify_message}")
    if isinstance(found, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return Refusal("TLS: the server closed the connection during the handshake")
    reason = (found.reason or str(found)).lower().replace("_", " ")
    if reason == "wrong version number":  # an https URL for a server of plain HTTP
        return Refusal("TLS: handshake failed: the server does not speak TLS")
    return Refusal(f"TLS: handshake failed: {reason}")


def client_context(ca_cert: PathLike | None = None, skip_verify: bool = False) -> ssl.SSLContext:
    """A client context: the system's CA certificates or those in `ca_cert`, host names
    checked; or, with `skip_verify`, no check at all."""
    context = ssl.create_default_context(cafile=None if ca_cert is None else check_ca_file(ca_cert))
    if skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


__all__ = ["Refusal", "check_ca_file", "client_context", "refusal"]
