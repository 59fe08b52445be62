"""TLS on loopback for tests and attacks: certificates made on the spot (a CA, and
certificates for 127.0.0.1 and localhost, expired, for another host, or from a CA nobody
trusts), and the service as a live process speaking HTTPS only."""

from __future__ import annotations

import datetime
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import requests
import trustme
import urllib3

from tools.live import START_TIMEOUT_SECONDS, LiveServer
from tools.processes import LOOPBACK

SERVER_NAMES = (LOOPBACK, "localhost")


@dataclass(frozen=True)
class CertificatePair:
    """A certificate (with its chain) and its key, as PEM files."""

    cert: Path
    key: Path

    def flags(self) -> list[str]:
        return ["--tls-cert", str(self.cert), "--tls-key", str(self.key)]

    def replace_with(self, other: CertificatePair) -> None:
        """Rotate: `other`'s content takes this pair's paths, each file replaced by a
        rename (as a certificate manager does), the key first."""
        for source, target in ((other.key, self.key), (other.cert, self.cert)):
            staged = target.with_name(target.name + ".new")
            staged.write_bytes(source.read_bytes())
            staged.replace(target)


class Authority:
    """A private CA that writes its certificate and the pairs it issues into `directory`."""

    def __init__(self, directory: Path, name: str = "ca") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.name = name
        self._ca = trustme.CA(organization_name=f"influxdb-sysinfo tests {name}")
        self.cert = directory / f"{name}.pem"
        self._ca.cert_pem.write_to_path(str(self.cert))

    def issue(
        self,
        filename: str,
        names: Sequence[str] = SERVER_NAMES,
        expired: bool = False,
    ) -> CertificatePair:
        """A server certificate for `names`; `expired`: its validity ended yesterday."""
        not_after = None
        not_before = None
        if expired:
            now = datetime.datetime.now(datetime.UTC)
            not_before, not_after = (
                now - datetime.timedelta(days=30),
                now - datetime.timedelta(days=1),
            )
        leaf = self._ca.issue_cert(*names, not_before=not_before, not_after=not_after)
        pair = CertificatePair(
            self.directory / f"{filename}.crt", self.directory / f"{filename}.key"
        )
        pair.cert.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(pair.key))
        return pair

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA alone."""
        return ssl.create_default_context(cafile=str(self.cert))


class TlsLiveServer(LiveServer):
    """The service on loopback with `pair`, speaking HTTPS; clients trust `ca_file`. It is
    up once a ping over TLS is answered, its certificate checked against `ca_file`, or not
    at all when the test serves one that should fail the check (expired, another host's)."""

    def __init__(
        self,
        workdir: Path,
        pair: CertificatePair,
        ca_file: Path,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        check_certificate: bool = True,
    ) -> None:
        super().__init__(workdir, [*pair.flags(), *args], env)
        self.pair = pair
        self.ca_file = ca_file
        self.check_certificate = check_certificate

    def start(self, wait: bool = True) -> Self:
        try:
            super().start(wait=False)
            self.url = f"https://{LOOPBACK}:{self.port}"
            if wait:
                self.wait_until_up()
        except BaseException:
            self.stop()  # no `with` block will: it was never entered
            raise
        return self

    def wait_until_up(self, headers: dict[str, str] | None = None) -> None:
        def answers() -> bool:
            try:
                with warnings.catch_warnings():  # urllib3's, for the unchecked certificate
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    response = requests.get(
                        self.url + "/ping",
                        headers=headers,
                        # The handshake waits for the event loop, as a request would.
                        timeout=START_TIMEOUT_SECONDS,
                        verify=str(self.ca_file) if self.check_certificate else False,
                    )
            except requests.ConnectionError:
                return False
            return response.status_code == 204

        self.wait_until(answers, "answer /ping over TLS")


__all__ = ["Authority", "CertificatePair", "SERVER_NAMES", "TlsLiveServer"]
