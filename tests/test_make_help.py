"""`make help` and README's table of make targets tell the same story."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DURATION = re.compile(r"about \d+ min")


def help_lines() -> dict[str, str]:
    shown = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    return {line.split()[1]: line for line in shown.stdout.splitlines() if line.strip()}


def test_every_target_make_help_lists_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Make targets") : readme.index("## Configuration")]
    for target in help_lines():
        assert f"`make {target}" in table or f"/ `make {target}`" in table, target


def test_make_help_and_readme_give_bench_the_same_durations() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (row,) = [line for line in readme.splitlines() if line.startswith("| `make bench` |")]
    assert DURATION.findall(help_lines()["bench"]) == DURATION.findall(row) != []
