"""The clients over HTTPS: SysinfoClient's `ca_cert` and `skip_verify`, `influx-metrics
--ca-cert/--skip-verify` on every subcommand and for `scrape --write` into a database
served over HTTPS; a certificate expired, for another host, or from an unknown CA is
refused with one line saying so."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest
import requests
import urllib3

from impl.client.api import SysinfoClient, TlsFailed
from impl.client.conform import Conformance, run_conform
from tests.support.databases import VictoriaMetrics
from tools.certificates import Authority, CertificatePair, TlsLiveServer
from tools.processes import ServerProcess

TOOL = Path(sys.executable).with_name("influx-metrics")
RUN_TIMEOUT_SECONDS = 60


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("certificates"))


def serve(
    tmp_path_factory: pytest.TempPathFactory, authority: Authority, pair: CertificatePair
) -> Iterator[TlsLiveServer]:
    """The service with `pair`, up whether or not its certificate passes a client's check."""
    workdir = tmp_path_factory.mktemp("service")
    with TlsLiveServer(workdir, pair, authority.cert, check_certificate=False) as live:
        yield live


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, authority: Authority) -> Iterator[str]:
    """The URL of a service whose certificate the test CA issued for 127.0.0.1."""
    for live in serve(tmp_path_factory, authority, authority.issue("good")):
        yield live.url


@pytest.fixture(scope="module")
def expired(tmp_path_factory: pytest.TempPathFactory, authority: Authority) -> Iterator[str]:
    for live in serve(tmp_path_factory, authority, authority.issue("expired", expired=True)):
        yield live.url


@pytest.fixture(scope="module")
def other_host(tmp_path_factory: pytest.TempPathFactory, authority: Authority) -> Iterator[str]:
    pair = authority.issue("other-host", names=["db.example.org"])
    for live in serve(tmp_path_factory, authority, pair):
        yield live.url


@pytest.fixture(scope="module")
def unknown_ca(tmp_path_factory: pytest.TempPathFactory, authority: Authority) -> Iterator[str]:
    stranger = Authority(tmp_path_factory.mktemp("stranger"), "stranger")
    for live in serve(tmp_path_factory, authority, stranger.issue("server")):
        yield live.url


def run(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "INFLUX_TOKEN"}
    return subprocess.run(
        [str(TOOL), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        env=environment,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- SysinfoClient ---------------------------------------------------------------------------


def test_sysinfo_client_trusts_the_ca_it_is_given(good: str, authority: Authority) -> None:
    with SysinfoClient(good, ca_cert=authority.cert) as client:
        assert client.ping().version == "v2.7.12"
        assert client.health().status == "pass"
        assert client.ready().status == "ready"
        assert any(f.name == "influxdb_info" for f in client.metrics())


def test_sysinfo_client_refuses_what_the_system_does_not_trust(good: str) -> None:
    with SysinfoClient(good) as client, pytest.raises(TlsFailed) as refused:
        client.ping()
    assert str(refused.value) == (
        f"cannot connect to {good}: TLS: certificate signed by an unknown authority"
    )
    assert refused.value.unknown_authority


def test_sysinfo_client_skip_verify_checks_nothing(good: str) -> None:
    with (
        warnings.catch_warnings(),
        SysinfoClient(good, skip_verify=True) as client,
    ):
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        assert client.ping().build == "OSS"


def test_an_unusable_ca_file_is_refused_at_once(tmp_path: Path) -> None:
    for path, why in ((tmp_path / "nope.pem", "no such file"), (tmp_path, "is a directory")):
        with pytest.raises(ValueError, match=f"cannot use CA certificates from {path}: {why}"):
            SysinfoClient("https://127.0.0.1:1", ca_cert=path)
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n")
    with pytest.raises(ValueError, match="holds no PEM certificate"):
        SysinfoClient("https://127.0.0.1:1", ca_cert=tmp_path / "key.pem")


@pytest.mark.slow  # three more services
@pytest.mark.parametrize(
    ("server", "message"),
    [
        ("expired", "TLS: certificate has expired"),
        ("other_host", "TLS: certificate is not valid for 127.0.0.1"),
        ("unknown_ca", "TLS: certificate signed by an unknown authority"),
    ],
)
def test_sysinfo_client_refuses_bad_certificates_saying_why(
    server: str, message: str, authority: Authority, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue(server)
    with SysinfoClient(url, ca_cert=authority.cert) as client, pytest.raises(TlsFailed) as refused:
        client.health()
    assert str(refused.value) == f"cannot connect to {url}: {message}"


# --- influx-metrics ------------------------------------------------------------------------


@pytest.mark.slow  # influx-metrics in fresh interpreters
@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["ping"], "reachable: https://127.0.0.1:"),
        (["health"], "pass: influxdb v2.7.12"),
        (["ready"], "ready: started "),
        (["scrape", "--name", "influxdb_info"], "# TYPE influxdb_info gauge"),
    ],
)
def test_every_subcommand_takes_ca_cert_and_skip_verify(
    good: str, authority: Authority, command: list[str], expected: str
) -> None:
    for trust in (["--ca-cert", str(authority.cert)], ["--skip-verify"]):
        result = run(*command, good, *trust)
        assert result.returncode == 0, result.stderr
        assert expected in result.stdout
        assert result.stderr == ""  # no warning for the unverified one: it was asked for


@pytest.mark.slow  # influx-metrics in fresh interpreters, three more services
@pytest.mark.parametrize(
    ("server", "message"),
    [
        ("expired", "TLS: certificate has expired"),
        ("other_host", "TLS: certificate is not valid for 127.0.0.1"),
        ("unknown_ca", "TLS: certificate signed by an unknown authority"),
    ],
)
def test_influx_metrics_refuses_bad_certificates_with_one_line(
    server: str, message: str, authority: Authority, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue(server)
    result = run("ping", url, "--ca-cert", str(authority.cert))
    assert result.returncode == 1
    line = one_error_line(result)
    assert line.startswith(f"influx-metrics: cannot connect to {url}: {message}")
    if server == "unknown_ca":
        assert line.endswith("(give its CA with --ca-cert FILE)")
    skipped = run("ping", url, "--skip-verify")
    assert skipped.returncode == 0, skipped.stderr


@pytest.mark.slow  # influx-metrics in a fresh interpreter
def test_influx_metrics_without_the_ca_names_the_flag(good: str, tmp_path: Path) -> None:
    result = run("health", good)
    assert result.returncode == 1
    assert one_error_line(result).endswith(
        "TLS: certificate signed by an unknown authority (give its CA with --ca-cert FILE)"
    )
    missing = run("ready", good, "--ca-cert", str(tmp_path / "nope.pem"))
    assert missing.returncode == 2
    assert "cannot use CA certificates from" in one_error_line(missing)


# --- scrape --write into a database served over HTTPS ---------------------------------------


class HttpsVictoriaMetrics(VictoriaMetrics):
    """VictoriaMetrics serving HTTPS with `pair`."""

    def __init__(self, workdir: Path, pair: CertificatePair, ca_file: Path) -> None:
        super().__init__(workdir)
        self.command += ["-tls", f"-tlsCertFile={pair.cert}", f"-tlsKeyFile={pair.key}"]
        self.ca_file = ca_file

    def start(self) -> Self:
        ServerProcess.start(self)
        self.url = self.url.replace("http://", "https://")
        self.wait_until(self._healthy, "answer /health over HTTPS")
        return self

    def _healthy(self) -> bool:
        try:
            response = requests.get(self.url + "/health", timeout=2, verify=str(self.ca_file))
        except requests.RequestException:
            return False
        return response.status_code == 200


@pytest.mark.slow  # a database, influx-metrics in fresh interpreters
def test_scrape_write_into_a_database_over_https(
    good: str, authority: Authority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The destination's certificate comes from another CA than the instance's.
    stranger = Authority(tmp_path / "stranger", "stranger")
    database = stranger.issue("database")
    both = tmp_path / "both-cas.pem"
    both.write_bytes(authority.cert.read_bytes() + stranger.cert.read_bytes())
    with HttpsVictoriaMetrics(tmp_path / "vm", database, stranger.cert) as victoria:
        write = ["--write", victoria.url, "--org", "o", "--bucket", "b", "--flush-timeout", "2"]
        refused = run("scrape", good, "--ca-cert", str(authority.cert), *write)
        assert refused.returncode == 1
        assert "TLS: certificate signed by an unknown authority" in refused.stderr
        assert "points written 0" in refused.stderr
        written = run("scrape", good, "--ca-cert", str(both), *write)
        assert written.returncode == 0, written.stderr
        assert "dropped 0, rejected 0, unsent 0" in written.stderr
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(stranger.cert))  # for reading back
        names = {name for name, _, _, _ in victoria.samples()}
    assert "influxdb_info_gauge" in names
    assert any(name.startswith("http_api_requests_total") for name in names)


# --- conform -------------------------------------------------------------------------------


@pytest.mark.slow  # conform's full run, and three more services
def test_conform_over_https_trusts_the_ca_it_is_given(
    good: str, expired: str, authority: Authority
) -> None:
    report = run_conform(good, ca_cert=authority.cert)
    assert report.conformance is Conformance.CONFORMANT, report.verdict
    unverified = run_conform(good, skip_verify=True, only=["http.*"])
    assert unverified.conformance is Conformance.CONFORMANT, unverified.verdict
    refused = run_conform(expired, ca_cert=authority.cert)
    assert refused.conformance is Conformance.UNREACHABLE
    assert refused.verdict.endswith("TLS: certificate has expired")
    untrusted = run_conform(good)  # the system's CAs
    assert untrusted.verdict.endswith("TLS: certificate signed by an unknown authority")


@pytest.mark.slow  # influx-metrics in fresh interpreters
def test_influx_metrics_conform_takes_ca_cert_and_skip_verify(
    good: str, authority: Authority, tmp_path: Path
) -> None:
    for trust in (["--ca-cert", str(authority.cert)], ["--skip-verify"]):
        result = run("conform", good, *trust, "--only", "spec.*", "--format", "json")
        assert result.returncode == 0, result.stdout + result.stderr
    unknown = run("conform", good, "--format", "json")
    assert unknown.returncode == 3  # UNREACHABLE
    assert "TLS: certificate signed by an unknown authority" in unknown.stderr
    missing = run("conform", good, "--ca-cert", str(tmp_path / "nope.pem"))
    assert missing.returncode == 2
    assert "cannot use CA certificates from" in missing.stderr


@pytest.mark.slow  # a pytest process of its own
def test_the_conform_pytest_plugin_over_https(
    good: str, authority: Authority, tmp_path: Path
) -> None:
    plugin = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
            f"--influx-conform={good}", f"--influx-conform-ca-cert={authority.cert}",
            "-k", "spec",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )  # fmt: skip
    assert plugin.returncode == 0, plugin.stdout + plugin.stderr
    assert " passed" in plugin.stdout and " failed" not in plugin.stdout
