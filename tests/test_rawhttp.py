"""The raw HTTP client frames every response as RFC 9112 says (h11's client side): the
server side here is the other end of a socket pair, writing exactly the bytes given."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from impl.client.rawhttp import (
    InvalidResponse,
    NoResponse,
    ResponseReader,
    build_request,
    read_response,
    read_responses,
)

PING_204 = b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: v2.7.12\r\n\r\n"


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    client, server = socket.socketpair()
    client.settimeout(5)
    with client, server:
        yield client, server


def test_a_head_answer_is_framed_without_its_body_and_what_follows_is_kept(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, server = pair
    server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
    server.close()
    reader = ResponseReader(client)
    response = reader.read("HEAD")
    assert (response.status, response.body, response.will_close) == (200, b"", True)
    assert response.header("content-length") == "5"
    assert reader.rest(limit=1024, quiet=1) == b"hello"


def test_a_204_has_no_body_even_when_bytes_follow(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, server = pair
    server.sendall(PING_204 + b"stray")
    reader = ResponseReader(client)
    response = reader.read()
    assert response.status == 204 and response.body == b""
    assert not response.will_close
    assert response.headers == [("X-Influxdb-Version", "v2.7.12")]  # names as sent
    assert reader.unread == b"stray"


def test_pipelined_answers_are_read_in_order(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    sized = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}"
    server.sendall(PING_204 + chunked + sized)
    responses = read_responses(client, 3)
    assert [(r.status, r.body) for r in responses] == [(204, b""), (200, b"abc"), (404, b"{}")]


def test_a_body_without_length_runs_to_the_close(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    server.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
    server.close()
    response = read_response(client)
    assert (response.body, response.will_close, response.http_version) == (
        b"all of it",
        True,
        "1.0",
    )


def test_interim_answers_are_skipped(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    server.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" + PING_204)
    assert read_response(client).status == 204


@pytest.mark.parametrize(
    ("sent", "error", "message"),
    [
        (b"", NoResponse, "closed the connection without answering"),
        (b"SSH-2.0-OpenSSH_9.2p1\r\n", InvalidResponse, "not HTTP: 'SSH-2.0-OpenSSH_9.2p1'"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", InvalidResponse, "not valid HTTP"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", InvalidResponse, "cut short"),
    ],
)
def test_what_is_not_a_whole_response_is_an_error(
    pair: tuple[socket.socket, socket.socket], sent: bytes, error: type[Exception], message: str
) -> None:
    client, server = pair
    server.sendall(sent)
    server.close()
    with pytest.raises(error, match=message):
        read_response(client)


def test_the_body_limit_and_the_deadline_bound_a_read(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, server = pair
    server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100)
    with pytest.raises(InvalidResponse, match="over 10 bytes"):
        ResponseReader(client, max_body=10).read()
    with pytest.raises(TimeoutError):  # nothing more comes, and the deadline has passed
        ResponseReader(client).read(deadline=0.0)


def test_requests_are_the_bytes_given() -> None:
    request = build_request(b"G\x00T", b"/p ing", [(b"X", b"\xff")], b"{}", b"HTTP/1.0")
    assert request == b"G\x00T /p ing HTTP/1.0\r\nX: \xff\r\n\r\n{}"
