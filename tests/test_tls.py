"""HTTPS as influxd serves it (impl/server/tls.py, the handshakes in impl/http/protocol.py):
the settings and what stops start-up, the certificate re-read when its files change, and
the service over TLS as clients see it: curl, the generated client, influxdb-client, TLS
versions and ciphers, and the limits of the plain listener."""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from influxdb_client import InfluxDBClient

import impl.server.tls as server_tls_module
from impl.client.rawhttp import read_response
from impl.server.config import ConfigError, load_config
from impl.server.tls import CertificateFiles, server_tls
from sysinfo_client import ApiClient, Configuration, SystemInformationEndpointsApi
from tests.support.scaleout import wait_for
from tools.attack_tls import client_hello
from tools.attacks import CLIENT_RCVBUF, LARGEST_SCRAPE
from tools.certificates import Authority, CertificatePair, TlsLiveServer
from tools.processes import LOOPBACK

PING = b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
PATIENCE = 20.0
PIPELINED_SCRAPES = 1000

StartTls = Callable[..., TlsLiveServer]


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("certificates"))


@pytest.fixture
def pair(authority: Authority, request: pytest.FixtureRequest) -> CertificatePair:
    """A certificate for 127.0.0.1 and localhost of this test's own, free to rotate."""
    return authority.issue(request.node.name.replace("[", "-").replace("]", ""))


@pytest.fixture
def start_tls(tmp_path: Path, authority: Authority) -> Iterator[StartTls]:
    started: list[TlsLiveServer] = []

    def start(pair: CertificatePair, *args: str) -> TlsLiveServer:
        workdir = tmp_path / f"s{len(started)}"
        workdir.mkdir()
        live = TlsLiveServer(workdir, pair, authority.cert, args)
        started.append(live)
        return live.start()

    yield start
    for live in started:
        live.stop()


def der_of(pair: CertificatePair) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pair.cert.read_text())


def served_certificate(port: int, client: ssl.SSLContext) -> bytes:
    """The certificate a new connection's handshake gets."""
    with (
        socket.create_connection((LOOPBACK, port), timeout=PATIENCE) as raw,
        client.wrap_socket(raw, server_hostname=LOOPBACK) as sock,
    ):
        certificate = sock.getpeercert(binary_form=True)
    assert certificate is not None
    return certificate


def ping_status(port: int, client: ssl.SSLContext) -> int:
    with (
        socket.create_connection((LOOPBACK, port), timeout=PATIENCE) as raw,
        client.wrap_socket(raw, server_hostname=LOOPBACK) as sock,
    ):
        sock.sendall(PING)
        return read_response(sock).status


def legacy_client(authority: Authority, version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that speaks `version` only, at the security level TLS 1.0 and 1.1 need."""
    client = authority.client_context()
    with warnings.catch_warnings():  # Python deprecates TLS 1.0 and 1.1
        warnings.simplefilter("ignore", DeprecationWarning)
        client.minimum_version = client.maximum_version = version
    client.set_ciphers("DEFAULT:@SECLEVEL=0")
    return client


# --- settings and start-up ---------------------------------------------------------------


def test_settings_have_influxd_names_defaults_and_environment_twins(tmp_path: Path) -> None:
    defaults = load_config([], {})
    assert (defaults.tls_cert, defaults.tls_key) == (None, None)
    assert (defaults.tls_min_version, defaults.tls_strict_ciphers) == ("1.2", False)
    assert server_tls(defaults) is None  # plain HTTP
    env = {
        "INFLUXDB_SYSINFO_TLS_CERT": str(tmp_path / "c.pem"),
        "INFLUXDB_SYSINFO_TLS_KEY": str(tmp_path / "k.pem"),
        "INFLUXDB_SYSINFO_TLS_MIN_VERSION": "1.3",
        "INFLUXDB_SYSINFO_TLS_STRICT_CIPHERS": "true",
    }
    config = load_config([], env)
    assert (config.tls_cert, config.tls_key) == (tmp_path / "c.pem", tmp_path / "k.pem")
    assert (config.tls_min_version, config.tls_strict_ciphers) == ("1.3", True)
    with pytest.raises(SystemExit):
        load_config(["--tls-min-version", "1.4"], {})


def unusable(authority: Authority, tmp_path: Path, case: str) -> list[str]:
    good = authority.issue("good")
    other = authority.issue("other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    encrypted = tmp_path / "encrypted.key"
    # The same key, under a passphrase.
    key = serialization.load_pem_private_key(good.key.read_bytes(), password=None)
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    flags = {
        "cert without key": ["--tls-cert", str(good.cert)],
        "key without cert": ["--tls-key", str(good.key)],
        "missing cert": ["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(good.key)],
        "cert is a directory": ["--tls-cert", str(tmp_path), "--tls-key", str(good.key)],
        "garbage cert": ["--tls-cert", str(garbage), "--tls-key", str(good.key)],
        "key as cert": ["--tls-cert", str(good.key), "--tls-key", str(good.key)],
        "garbage key": ["--tls-cert", str(good.cert), "--tls-key", str(garbage)],
        "key of another cert": ["--tls-cert", str(good.cert), "--tls-key", str(other.key)],
        "encrypted key": ["--tls-cert", str(good.cert), "--tls-key", str(encrypted)],
    }
    return flags[case]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("cert without key", "--tls-cert needs --tls-key"),
        ("key without cert", "--tls-key needs --tls-cert"),
        ("missing cert", "cannot read --tls-cert {tmp}/nope.pem: no such file or directory"),
        ("cert is a directory", "cannot read --tls-cert {tmp}: is a directory"),
        ("garbage cert", "--tls-cert {tmp}/garbage.pem holds no PEM certificate"),
        ("key as cert", "holds no PEM certificate"),
        ("garbage key", "--tls-key {tmp}/garbage.pem holds no PEM private key"),
        ("key of another cert", "other.key is not the key of the certificate in --tls-cert"),
        ("encrypted key", "--tls-key {tmp}/encrypted.key is encrypted; give the key unencrypted"),
    ],
)
def test_unusable_certificate_or_key_is_refused_with_one_message(
    authority: Authority, tmp_path: Path, case: str, message: str
) -> None:
    config = load_config(unusable(authority, tmp_path, case), {})
    with pytest.raises(ConfigError) as refused:
        server_tls(config)
    assert message.format(tmp=tmp_path) in str(refused.value)
    assert "\n" not in str(refused.value)
    assert "PRIVATE KEY" not in str(refused.value)


@pytest.mark.parametrize(
    "case",
    [
        "key of another cert",
        pytest.param("cert without key", marks=pytest.mark.slow),
        pytest.param("garbage cert", marks=pytest.mark.slow),
    ],
)
def test_service_does_not_start_on_unusable_files(
    authority: Authority, tmp_path: Path, case: str
) -> None:
    command = [sys.executable, "-m", "impl.main", "--port", "0", "--state-dir", str(tmp_path)]
    result = subprocess.run(
        [*command, *unusable(authority, tmp_path, case)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("influxdb-sysinfo: ")


def test_discouraged_versions_are_warned_about(
    pair: CertificatePair, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server_tls(load_config([*pair.flags(), "--tls-min-version", "1.1"], {}))
    assert "TLS 1.1 accepted: discouraged, use 1.2 or 1.3" in caplog.text
    server_tls(load_config([*pair.flags(), "--tls-min-version", "1.3", "--tls-strict-ciphers"], {}))
    assert "--tls-strict-ciphers has no effect with TLS 1.3" in caplog.text


# --- rotation, in one process --------------------------------------------------------------


def test_context_is_rebuilt_only_when_the_files_change(
    authority: Authority, pair: CertificatePair
) -> None:
    files = CertificateFiles(pair.cert, pair.key, "1.2", False)
    first = files.context()
    assert files.context() is first  # unchanged files: the same context, nothing re-read
    pair.replace_with(authority.issue("renewed"))
    renewed = files.context()
    assert renewed is not first and files.context() is renewed


def test_a_pair_that_does_not_load_keeps_the_previous_one_and_is_logged_once(
    authority: Authority,
    pair: CertificatePair,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(server_tls_module, "SETTLE_SECONDS", 0.0)
    files = CertificateFiles(pair.cert, pair.key, "1.2", False)
    first = files.context()
    pair.cert.write_text("half written\n")
    assert files.context() is first
    assert files.context() is first
    refusals = [r for r in caplog.records if "not reloaded" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].levelno == logging.ERROR
    assert "holds no PEM certificate" in str(refusals[0].__dict__["fields"]["reason"])
    pair.replace_with(authority.issue("fixed"))
    assert files.context() is not first
    assert "TLS certificate reloaded" in caplog.text


# --- the live service over TLS -------------------------------------------------------------


def test_curl_with_cacert(start_tls: StartTls, pair: CertificatePair, authority: Authority) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl (Debian's) is needed"
    live = start_tls(pair)
    for host in (LOOPBACK, "localhost"):
        result = subprocess.run(
            [
                curl,
                "-sS",
                "-i",
                "--cacert",
                str(authority.cert),
                f"https://{host}:{live.port}/ping",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        head = result.stdout.lower()
        assert head.startswith("http/1.1 204") and "x-influxdb-version: v2.7.12" in head
    untrusted = subprocess.run(
        [curl, "-sS", f"https://{LOOPBACK}:{live.port}/ping"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert untrusted.returncode == 60  # curl: the peer certificate cannot be authenticated
    plain = subprocess.run(
        [curl, "-sS", f"http://{LOOPBACK}:{live.port}/ping"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert plain.returncode != 0  # HTTPS only: a plain request is no handshake


@pytest.mark.slow  # a live service
def test_generated_client_with_its_ca(
    start_tls: StartTls, pair: CertificatePair, authority: Authority
) -> None:
    live = start_tls(pair)
    configuration = Configuration(host=live.url, ssl_ca_cert=str(authority.cert))
    with ApiClient(configuration) as api_client:
        api = SystemInformationEndpointsApi(api_client)
        assert api.get_ping_with_http_info().status_code == 204
        assert api.get_health().status == "pass"
        assert api.get_ready().status == "ready"
        assert "influxdb_info" in api.get_metrics()


@pytest.mark.slow  # a live service
def test_influxdb_client_with_its_ca(
    start_tls: StartTls, pair: CertificatePair, authority: Authority
) -> None:
    live = start_tls(pair)
    with InfluxDBClient(url=live.url, token="t", ssl_ca_cert=str(authority.cert)) as client:
        assert client.ping()
        assert client.version() == "v2.7.12"
        assert client.health().status == "pass"
        assert client.ready().status == "ready"
    with InfluxDBClient(url=live.url, token="t") as unverified_nowhere:
        assert not unverified_nowhere.ping()  # the system's CAs do not know the test CA
    with (
        warnings.catch_warnings(),
        InfluxDBClient(url=live.url, token="t", verify_ssl=False) as unverified,
    ):
        warnings.simplefilter("ignore")  # urllib3 warns of every unverified request
        assert unverified.ping()


@pytest.mark.slow  # a live service
def test_tls_1_1_is_refused_unless_allowed(
    start_tls: StartTls, pair: CertificatePair, authority: Authority
) -> None:
    tls11 = legacy_client(authority, ssl.TLSVersion.TLSv1_1)
    tls12 = legacy_client(authority, ssl.TLSVersion.TLSv1_2)
    default = start_tls(pair)
    with pytest.raises(ssl.SSLError):
        ping_status(default.port, tls11)
    assert ping_status(default.port, tls12) == 204
    allowing = start_tls(pair, "--tls-min-version", "1.1")
    assert ping_status(allowing.port, tls11) == 204
    assert "TLS 1.1 accepted: discouraged" in allowing.log()
    only_13 = start_tls(pair, "--tls-min-version", "1.3")
    with pytest.raises(ssl.SSLError):
        ping_status(only_13.port, tls12)
    assert ping_status(only_13.port, authority.client_context()) == 204


@pytest.mark.slow  # a live service
def test_strict_ciphers_refuse_the_others_in_tls_1_2(
    start_tls: StartTls, pair: CertificatePair, authority: Authority
) -> None:
    def tls12_with(cipher: str) -> ssl.SSLContext:
        client = legacy_client(authority, ssl.TLSVersion.TLSv1_2)
        client.set_ciphers(cipher)
        return client

    strict = start_tls(pair, "--tls-strict-ciphers")
    assert ping_status(strict.port, tls12_with("ECDHE-ECDSA-AES128-GCM-SHA256")) == 204
    assert ping_status(strict.port, tls12_with("ECDHE-ECDSA-CHACHA20-POLY1305")) == 204
    with pytest.raises(ssl.SSLError):
        ping_status(strict.port, tls12_with("ECDHE-ECDSA-AES128-SHA256"))
    lenient = start_tls(pair)
    assert ping_status(lenient.port, tls12_with("ECDHE-ECDSA-AES128-SHA256")) == 204


@pytest.mark.slow  # a live service
def test_rotated_files_are_served_to_the_next_handshakes(
    start_tls: StartTls, pair: CertificatePair, authority: Authority
) -> None:
    live = start_tls(pair)
    client = authority.client_context()
    original = der_of(pair)
    assert served_certificate(live.port, client) == original
    # A half-written certificate: the previous one is still served, and it is said.
    pair.cert.write_text("-----BEGIN CERTIFICATE-----\n")
    assert served_certificate(live.port, client) == original
    wait_for(
        lambda: (
            served_certificate(live.port, client) == original
            and "TLS certificate not reloaded" in live.log()
        ),
        "the refusal logged",
    )
    assert "lvl=error" in live.log() and "holds no PEM certificate" in live.log()
    renewed = authority.issue("renewed-live")
    pair.replace_with(renewed)
    assert served_certificate(live.port, client) == der_of(renewed)
    assert ping_status(live.port, client) == 204
    assert "TLS certificate reloaded" in live.log()
    assert "PRIVATE KEY" not in live.log()


@pytest.mark.slow  # a live service
def test_an_unfinished_handshake_is_closed_after_the_header_timeout(
    start_tls: StartTls, pair: CertificatePair, authority: Authority
) -> None:
    live = start_tls(pair, "--header-timeout", "1")
    hello = client_hello()
    for first_bytes in (b"", hello[:20], hello):
        with socket.create_connection((LOOPBACK, live.port), timeout=PATIENCE) as sock:
            sock.sendall(first_bytes)
            received = b""
            while chunk := sock.recv(65536):  # the server's first flight, if any, then EOF
                received += chunk
        assert b"HTTP/1.1" not in received
    assert ping_status(live.port, authority.client_context()) == 204


@pytest.mark.slow  # a live service
def test_an_unfinished_head_over_tls_gets_408(
    start_tls: StartTls, pair: CertificatePair, authority: Authority
) -> None:
    live = start_tls(pair, "--header-timeout", "1")
    with (
        socket.create_connection((LOOPBACK, live.port), timeout=PATIENCE) as raw,
        authority.client_context().wrap_socket(raw, server_hostname=LOOPBACK) as sock,
    ):
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
        response = read_response(sock)
    assert response.status == 408
    assert response.header("X-Platform-Error-Code") == "invalid"
    assert response.header("Connection") == "close"


@pytest.mark.slow  # a live service with workers
def test_every_worker_serves_the_renewed_certificate(
    start_tls: StartTls, pair: CertificatePair, authority: Authority
) -> None:
    live = start_tls(pair, "--workers", "2")
    client = authority.client_context()
    assert all(ping_status(live.port, client) == 204 for _ in range(10))
    renewed = authority.issue("renewed-workers")
    pair.replace_with(renewed)
    # Connections go to whichever worker accepts first: connect until both have reloaded.
    wait_for(
        lambda: (
            served_certificate(live.port, client) == der_of(renewed)
            and live.log().count("TLS certificate reloaded") == 2
        ),
        "both workers reloading",
    )
    assert all(served_certificate(live.port, client) == der_of(renewed) for _ in range(20))


@pytest.mark.slow  # a live service, its /metrics at its largest
def test_a_client_that_never_reads_over_tls_is_cut_off(
    start_tls: StartTls, pair: CertificatePair, authority: Authority
) -> None:
    live = start_tls(pair, "--send-timeout", "1")
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RCVBUF)  # before connecting
    raw.settimeout(PATIENCE)
    raw.connect((LOOPBACK, live.port))
    with authority.client_context().wrap_socket(raw, server_hostname=LOOPBACK) as sock:
        # Far more than the kernel's buffers take, pipelined, and never read.
        sock.sendall(LARGEST_SCRAPE * PIPELINED_SCRAPES)
        wait_for(lambda: "response not read in time" in live.log(), "the send timeout")
    assert ping_status(live.port, authority.client_context()) == 204
    assert "lvl=error" not in live.log()


@pytest.mark.slow  # a live service
def test_a_body_that_does_not_come_over_tls_gets_408(
    start_tls: StartTls, pair: CertificatePair, authority: Authority
) -> None:
    live = start_tls(pair)
    with (
        socket.create_connection((LOOPBACK, live.port), timeout=PATIENCE) as raw,
        authority.client_context().wrap_socket(raw, server_hostname=LOOPBACK) as sock,
    ):
        sock.sendall(b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
        response = read_response(sock)
    assert response.status == 408
    assert b"request body timeout" in response.body
