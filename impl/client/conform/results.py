"""What a run found, and the verdict it earns.

CONFORMANT only when every check that counts ran and passed: the MUST checks (with
--strict, the SHOULD checks too). A counted check that could not run (a token
needed or refused, metrics disabled, the server gone or the time up half-way) makes
the run INCOMPLETE, and so does a run that stopped before sending every request (what
the checks over every answer passed, they passed on part of the run); a failure
outweighs both: NOT CONFORMANT. A server that does not answer the first request is
UNREACHABLE.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from impl.client.conform.influxd import claims_influxd
from impl.client.conform.model import Level, Outcome, Result

EXIT_CONFORMANT = 0
EXIT_NOT_CONFORMANT = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INCOMPLETE = 4


class Conformance(StrEnum):
    CONFORMANT = "CONFORMANT"
    NOT_CONFORMANT = "NOT CONFORMANT"
    INCOMPLETE = "INCOMPLETE"
    UNREACHABLE = "UNREACHABLE"


EXIT_STATUS = {
    Conformance.CONFORMANT: EXIT_CONFORMANT,
    Conformance.NOT_CONFORMANT: EXIT_NOT_CONFORMANT,
    Conformance.INCOMPLETE: EXIT_INCOMPLETE,
    Conformance.UNREACHABLE: EXIT_UNREACHABLE,
}


@dataclass(frozen=True)
class Report:
    url: str
    spec_title: str
    results: list[Result]  # of the selected checks, in order
    requests: int
    elapsed: float
    strict: bool = False
    allow_incomplete: bool = False
    unreachable: str | None = None  # why the first request had no answer
    stopped: str | None = None  # why sending stopped early, if it did
    deselected: tuple[str, ...] = ()  # ids left out by --only / --skip

    @property
    def reachable(self) -> bool:
        return self.unreachable is None

    @property
    def counted(self) -> tuple[Level, ...]:
        """The levels whose checks decide the verdict."""
        return (Level.MUST, Level.SHOULD) if self.strict else (Level.MUST,)

    def with_outcome(self, outcome: Outcome, *levels: Level) -> list[Result]:
        wanted = levels or tuple(Level)
        return [r for r in self.results if r.outcome is outcome and r.check.level in wanted]

    def count(self, outcome: Outcome) -> int:
        return len(self.with_outcome(outcome))

    @property
    def blocking(self) -> list[Result]:
        """The failures that make the run NOT CONFORMANT."""
        return self.with_outcome(Outcome.FAIL, *self.counted)

    @property
    def missing(self) -> list[Result]:
        """The counted checks that did not run: what makes the run INCOMPLETE."""
        return self.with_outcome(Outcome.NOT_RUN, *self.counted)

    @property
    def conformance(self) -> Conformance:
        if not self.reachable:
            return Conformance.UNREACHABLE
        if self.blocking:
            return Conformance.NOT_CONFORMANT
        if self.missing or self.stopped:
            return Conformance.INCOMPLETE
        return Conformance.CONFORMANT

    @property
    def exit_status(self) -> int:
        if self.conformance is Conformance.INCOMPLETE and self.allow_incomplete:
            return EXIT_CONFORMANT
        return EXIT_STATUS[self.conformance]

    @property
    def kinds(self) -> str:
        return "MUST or SHOULD" if self.strict else "MUST"

    @property
    def verdict(self) -> str:
        """One line: the conformance, then why."""
        conformance = self.conformance
        if conformance is Conformance.UNREACHABLE:
            return f"{conformance}: {self.unreachable}"
        if conformance is Conformance.NOT_CONFORMANT:
            missing = f"; {len(self.missing)} did not run" if self.missing else ""
            return f"{conformance}: {len(self.blocking)} {self.kinds} check(s) fail{missing}"
        if conformance is Conformance.INCOMPLETE:
            allowed = " (allowed by --allow-incomplete)" if self.allow_incomplete else ""
            if not self.missing:
                return f"{conformance}{allowed}: {self.stopped}; not every request was sent"
            counted = self.not_run_reasons().most_common()
            reasons = "; ".join(why if len(counted) == 1 else f"{why} ({n})" for why, n in counted)
            return (
                f"{conformance}{allowed}: {len(self.missing)} {self.kinds} check(s) "
                f"did not run: {reasons}"
            )
        should = len(self.with_outcome(Outcome.FAIL, Level.SHOULD))
        notes = f"; {should} SHOULD check(s) fail (--strict makes them count)" if should else ""
        if self.deselected:
            notes += f"; {len(self.deselected)} check(s) not selected"
        return f"{conformance}: every {self.kinds} check passes{notes}"

    def not_run_reasons(self) -> Counter[str]:
        """Why the counted checks did not run, with how many for each reason."""
        return Counter(result.verdict.reason for result in self.missing)

    @property
    def hints(self) -> list[str]:
        """Sentences for people: checks that did not run and why, a server that is not
        InfluxDB."""
        if not self.reachable:
            return []  # the verdict says why, once
        reasons = Counter(r.verdict.reason for r in self.with_outcome(Outcome.NOT_RUN))
        found = [f"{n} check(s) did not run: {reason}" for reason, n in reasons.most_common()]
        evidence = (exchange for result in self.results for exchange in result.verdict.evidence)
        if not claims_influxd(evidence):
            found.append(
                "no answer carried X-Influxdb-Build or X-Influxdb-Version: "
                "this does not look like InfluxDB"
            )
        return found
