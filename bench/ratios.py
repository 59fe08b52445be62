"""The one table of ratios, and the machine and versions it was measured on."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata

PACKAGES = ("prometheus-client", "connexion", "flask", "uvicorn", "gunicorn", "hypothesis")


@dataclass(frozen=True)
class Row:
    measurement: str
    divided_by: str
    ratio: float | None  # None: not measured (see note)
    target: str = ""
    met: bool | None = None  # None: no target
    note: str = ""


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _tool_version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def machine() -> list[str]:
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    return [
        f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"{_cpu_model()}, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; " + ", ".join(versions),
        f"- wrk: {_tool_version(['wrk', '-v'])}",
        f"- prometheus: {_tool_version(['prometheus', '--version'])}",
    ]


def _ratio(row: Row) -> str:
    if row.ratio is None:
        return "n/a"
    return f"{row.ratio:.2f}" if row.ratio >= 0.1 else f"{row.ratio:.4f}"


def _verdict(row: Row) -> str:
    if row.met is None:
        return "" if row.ratio is not None else "TODO"
    return "yes" if row.met else "NO"


def table(rows: list[Row]) -> str:
    lines = [
        "| measurement | divided by | ratio | target | met | note |",
        "| --- | --- | ---: | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row.measurement} | {row.divided_by} | {_ratio(row)} | {row.target} "
            f"| {_verdict(row)} | {row.note} |"
        )
    return "\n".join(lines)


def document(rows: list[Row], command: str, seconds: float, notes: list[str]) -> str:
    return "\n".join(
        [
            "# Benchmark results",
            "",
            "Ratios measured side by side in one run (the machines are noisy: compare "
            "ratios, never absolute times across runs). All traffic on 127.0.0.1; "
            "text format, `Accept-Encoding: identity`.",
            "",
            table(rows),
            "",
            *notes,
            "",
            "## Machine and versions",
            *machine(),
            "",
            f"Reproduce: `{command}` (took {seconds:.0f} s).",
            "",
        ]
    )
