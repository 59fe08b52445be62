"""What a conformance run is made of: exchanges (the evidence), checks, their verdicts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from impl.client.conform.parsing import Parsed, media_type


class Level(StrEnum):
    MUST = "MUST"  # the spec (or HTTP, or the exposition format it names) requires it
    SHOULD = "SHOULD"  # influxd 2.x does it; clients written against influxd rely on it
    # An optional extension (OpenMetrics, name[]), or a recommendation influxd itself
    # does not follow; reported, never fails a run.
    MAY = "MAY"


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"  # nothing to judge: the spec declares no such thing, an option not offered
    # The check could not run: its answer was withheld (401, 403), never came (the run
    # stopped, the server went away) or could not be read because another check failed.
    NOT_RUN = "not-run"


@dataclass(frozen=True)
class SentRequest:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]  # as sent, the token masked


@dataclass(frozen=True)
class Received:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes  # as framed by the response, still compressed if it was
    trailing: bytes = b""  # bytes after the framed response: a HEAD or 204 body

    def header(self, name: str) -> str | None:
        return next(iter(self.header_values(name)), None)

    def header_values(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]

    @property
    def media_type(self) -> str:
        return media_type(self.header("Content-Type"))


@dataclass(frozen=True)
class Exchange:
    purpose: str
    request: SentRequest
    response: Received | None
    error: str | None = None  # why there was no response
    elapsed: float = 0.0
    operation: str | None = None  # the spec operation the request addresses, if any
    connected: bool = True  # False: the request never reached the server

    def summary(self) -> str:
        outcome = (
            f"{self.response.status} {self.response.reason}".rstrip()
            if self.response is not None
            else f"no answer: {self.error}"
        )
        return f"{self.request.method} {self.request.target} -> {outcome}"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str
    evidence: tuple[Exchange, ...] = ()
    problems: tuple[str, ...] = ()  # one line per thing found wrong

    @staticmethod
    def passed(reason: str, evidence: Iterable[Exchange] = ()) -> Verdict:
        return Verdict(Outcome.PASS, reason, tuple(evidence))

    @staticmethod
    def skipped(reason: str, evidence: Iterable[Exchange] = ()) -> Verdict:
        return Verdict(Outcome.SKIP, reason, tuple(evidence))

    @staticmethod
    def not_run(reason: str, evidence: Iterable[Exchange] = ()) -> Verdict:
        return Verdict(Outcome.NOT_RUN, reason, tuple(evidence))

    @staticmethod
    def failed(
        reason: str, evidence: Iterable[Exchange] = (), problems: Iterable[str] = ()
    ) -> Verdict:
        return Verdict(Outcome.FAIL, reason, tuple(evidence), tuple(problems))


@dataclass
class Observations:
    """Everything one run sent and received, by purpose, in the order sent."""

    token_given: bool
    exchanges: dict[str, Exchange] = field(default_factory=dict)
    not_sent: dict[str, str] = field(default_factory=dict)  # purpose -> why not
    # Bodies parsed once per run, by purpose: several checks read the same one.
    parsed: dict[str, Parsed] = field(default_factory=dict)

    def get(self, purpose: str) -> Exchange | None:
        return self.exchanges.get(purpose)

    def answered(self) -> list[tuple[Exchange, Received]]:
        return [(e, e.response) for e in self.exchanges.values() if e.response is not None]


@dataclass(frozen=True)
class Check:
    id: str
    level: Level
    evaluate: Callable[[Observations], Verdict]
    title: str = ""  # the rule, in a line
    # Where the rule comes from: a JSON pointer into the carried openapi.yaml, an RFC
    # section, the exposition format, or the influxd behaviour it encodes.
    reference: str = ""

    def rule(self, title: str, reference: str) -> Check:
        return replace(self, title=title, reference=reference)


@dataclass(frozen=True)
class Result:
    check: Check
    verdict: Verdict

    @property
    def outcome(self) -> Outcome:
        return self.verdict.outcome
