"""Writing scraped metrics into an InfluxDB, as InfluxDB's own "scrape Prometheus metrics"
guides end: the points go into a bucket (the v2 write API, `/api/v2/write` with org,
bucket and token) or a database (the v1 write API, `/write` with db and retention policy).

What a scraper that runs for months needs, and a pipe into curl does not give:

- Batches of at most `batch_lines` points per request, gzip-compressed.
- Retries: a connection failure, a timeout, 429 or 5xx keeps the batch and tries again
  after a delay that doubles from `first_delay` to `max_delay` (with jitter, so that many
  writers do not come back at once), or after what `Retry-After` asks on 429 and 503.
  Other answers (400 for points the database refused, 401, 403, 404, 413) are not
  retried: the same request would get the same answer. Those points are counted as
  rejected and the answer's message is said.
- While the destination cannot take points, they wait in a buffer of at most
  `buffer_lines`; past it the oldest are dropped, counted and said, so memory stays
  bounded however long the destination is down.
- Batches leave in scrape order, and a batch leaves the buffer only once the
  destination has acknowledged it (2xx) or refused it for good: an acknowledged point
  is never sent again. (A request that timed out may have been stored all the same;
  sending it again stores the same points again, which InfluxDB overwrites: a point is
  identified by measurement, tags and timestamp, and the timestamp is the scrape's.)
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Literal
from urllib.parse import urlencode

import urllib3

from impl.client.api import ClientError, normalise_url
from impl.client.trust import PathLike, check_ca_file, refusal

log = logging.getLogger(__name__)

WriteApi = Literal["v1", "v2"]
DEFAULT_BATCH_LINES = 5000  # the InfluxDB client libraries' default batch size
DEFAULT_BUFFER_LINES = 100_000
FIRST_RETRY_DELAY_SECONDS = 1.0
MAX_RETRY_DELAY_SECONDS = 30.0
# A Retry-After beyond this is taken as this: a writer that sleeps for a day is no writer.
MAX_RETRY_AFTER_SECONDS = 300.0
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
# How much of an error answer is quoted when it is said.
ERROR_TEXT_LIMIT = 200


@dataclass(frozen=True)
class Destination:
    """Where points go: the base URL and either a v2 org and bucket or a v1 database."""

    url: str
    api: WriteApi
    bucket: str | None = None
    org: str | None = None
    database: str | None = None
    retention_policy: str | None = None
    token: str | None = field(default=None, repr=False)

    @classmethod
    def v2(cls, url: str, *, org: str, bucket: str, token: str | None = None) -> Destination:
        return cls(normalise_url(url), "v2", bucket=bucket, org=org, token=token)

    @classmethod
    def v1(
        cls, url: str, *, database: str, retention_policy: str | None = None, token: str | None
    ) -> Destination:
        return cls(
            normalise_url(url),
            "v1",
            database=database,
            retention_policy=retention_policy,
            token=token,
        )

    def write_url(self) -> str:
        if self.api == "v2":
            query = {"org": self.org or "", "bucket": self.bucket or "", "precision": "ns"}
            return f"{self.url}/api/v2/write?{urlencode(query)}"
        query = {"db": self.database or "", "precision": "ns"}
        if self.retention_policy:
            query["rp"] = self.retention_policy
        return f"{self.url}/write?{urlencode(query)}"

    def describe(self) -> str:
        where = f"bucket {self.bucket!r}" if self.api == "v2" else f"database {self.database!r}"
        return f"{self.url} ({where})"


@dataclass
class WriteStats:
    """What became of every point handed to the writer."""

    written: int = 0
    dropped: int = 0  # the buffer was full: the oldest went
    rejected: int = 0  # the destination refused them for good

    @property
    def settled(self) -> int:
        return self.written + self.dropped + self.rejected


class Outcome:
    """How one write request ended."""

    WRITTEN = "written"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass
class _Answer:
    outcome: str
    reason: str = ""
    retry_after: float | None = None


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when - now), MAX_RETRY_AFTER_SECONDS)


class PointWriter:
    """Buffers line-protocol lines and writes them to `destination` in batches."""

    def __init__(
        self,
        destination: Destination,
        *,
        batch_lines: int = DEFAULT_BATCH_LINES,
        buffer_lines: int = DEFAULT_BUFFER_LINES,
        compress: bool = True,
        timeout: float = 10.0,
        first_delay: float = FIRST_RETRY_DELAY_SECONDS,
        max_delay: float = MAX_RETRY_DELAY_SECONDS,
        pool: urllib3.PoolManager | None = None,
        clock: Callable[[], float] = time.monotonic,
        ca_cert: PathLike | None = None,
        skip_verify: bool = False,
    ) -> None:
        """Over https, the destination's certificate is checked against the system's CA
        certificates or those in `ca_cert`; `skip_verify` checks nothing. A certificate
        refused is retried as a destination down is: it may be renewed meanwhile."""
        if batch_lines < 1 or buffer_lines < batch_lines:
            raise ValueError("need 1 <= batch_lines <= buffer_lines")
        self.destination = destination
        self.batch_lines = batch_lines
        self.buffer_lines = buffer_lines
        self.compress = compress
        self.timeout = timeout
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.stats = WriteStats()
        self._buffer: deque[str] = deque()
        self._pool = pool or urllib3.PoolManager(
            retries=False,
            cert_reqs="CERT_NONE" if skip_verify else "CERT_REQUIRED",
            ca_certs=None if ca_cert is None else check_ca_file(ca_cert),
        )
        self._clock = clock
        self._failures = 0  # consecutive failed attempts, for the backoff
        self._not_before = 0.0  # no attempt before this (clock)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def add(self, lines: Iterable[str]) -> None:
        """Queue lines (no newline at their end); the oldest go past `buffer_lines`."""
        self._buffer.extend(lines)
        excess = len(self._buffer) - self.buffer_lines
        if excess > 0:
            for _ in range(excess):
                self._buffer.popleft()
            self.stats.dropped += excess
            log.warning(
                "buffer full: %d oldest points dropped (%d buffered, %d dropped so far)",
                excess,
                len(self._buffer),
                self.stats.dropped,
            )

    def retry_in(self) -> float:
        """Seconds until the next attempt is due (0: now)."""
        return max(0.0, self._not_before - self._clock())

    def flush(self, until: float, wait: Callable[[float], bool] | None = None) -> bool:
        """Send batches until the buffer is empty (True), or until a retry would not be
        due before `until` (a clock time) or `wait` (which sleeps, and returns True when
        interrupted) is interrupted (False)."""
        while self._buffer:
            delay = self.retry_in()
            if self._clock() + delay >= until:
                return False
            if delay and (wait or _sleep)(delay):
                return False
            self._send_one_batch()
        return True

    def _send_one_batch(self) -> None:
        count = min(self.batch_lines, len(self._buffer))
        batch = [self._buffer[i] for i in range(count)]
        answer = self._post("\n".join(batch).encode("utf-8") + b"\n")
        if answer.outcome == Outcome.RETRY:
            self._failures += 1
            delay = answer.retry_after
            if delay is None:
                backoff = min(self.max_delay, self.first_delay * 2 ** (self._failures - 1))
                delay = backoff * random.uniform(0.5, 1.0)
            self._not_before = self._clock() + delay
            log.warning(
                "write to %s failed: %s; retrying in %.1fs (%d points buffered)",
                self.destination.describe(),
                answer.reason,
                delay,
                len(self._buffer),
            )
            return
        for _ in range(count):
            self._buffer.popleft()
        if self._failures:
            log.info("write to %s works again", self.destination.describe())
        self._failures = 0
        self._not_before = 0.0
        if answer.outcome == Outcome.WRITTEN:
            self.stats.written += count
        else:
            self.stats.rejected += count
            log.error(
                "write to %s refused, %d points not written: %s",
                self.destination.describe(),
                count,
                answer.reason,
            )

    def _post(self, body: bytes) -> _Answer:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.compress:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        if self.destination.token:
            headers["Authorization"] = f"Token {self.destination.token}"
        try:
            response = self._pool.request(
                "POST",
                self.destination.write_url(),
                body=body,
                headers=headers,
                timeout=self.timeout,
                redirect=False,
            )
        except urllib3.exceptions.HTTPError as err:
            return _Answer(Outcome.RETRY, _transport_reason(err))
        if 200 <= response.status < 300:
            return _Answer(Outcome.WRITTEN)
        reason = f"{response.status} {_error_message(response.data)}"
        if response.status in RETRIED_STATUSES:
            wait = None
            if response.status in (429, 503):
                wait = retry_after_seconds(response.headers.get("Retry-After"), time.time())
            return _Answer(Outcome.RETRY, reason, wait)
        return _Answer(Outcome.REJECTED, reason)


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def run_writer(
    scrape: Callable[[], list[str]],
    writer: PointWriter,
    *,
    every: float | None,
    stop: threading.Event,
    flush_timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Scrape and write: once when `every` is None, else every `every` seconds until
    `stop` is set. A scrape that fails is said and skipped; between scrapes the writer
    sends what is buffered. At the end, what is left gets `flush_timeout` seconds."""
    due = clock()
    while not stop.is_set():
        try:
            writer.add(scrape())
        except (ClientError, ValueError) as err:  # a source down must not stop the writer
            log.warning("scrape failed: %s", err)
        if every is None:
            break
        due += every
        if due <= clock():  # the last round overran: the next is now, none are made up
            due = clock()
        writer.flush(until=due, wait=stop.wait)
        stop.wait(max(0.0, due - clock()))
    if writer.buffered:
        writer.flush(until=clock() + flush_timeout)


def _transport_reason(err: urllib3.exceptions.HTTPError) -> str:
    if tls := refusal(err):
        return tls.message
    reason = getattr(err, "reason", None) or err
    cause = reason.__cause__ or reason.__context__
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, urllib3.exceptions.TimeoutError):
        return "no answer in time"
    return str(reason)[:ERROR_TEXT_LIMIT]


def _error_message(body: bytes) -> str:
    """An InfluxDB error's message (v2 `message`, v1 `error`), else the start of the body."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        message = document.get("message") or document.get("error")
        if isinstance(message, str):
            text = message
    return " ".join(text.split())[:ERROR_TEXT_LIMIT]
