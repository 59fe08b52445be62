"""`make dist`'s wheels, each installed alone into an empty virtualenv."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
# Filled by `make setup` with every third-party wheel the distributions need.
WHEELHOUSE = VENV / "wheelhouse"


def build_wheels(dist: Path) -> dict[str, Path]:
    """The wheels of `make dist`, by distribution name as the wheel file spells it."""
    built = subprocess.run(
        ["make", "--no-print-directory", f"DIST={dist}", "-o", f"{VENV}/.installed", "dist"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    return {wheel.name.split("-")[0]: wheel for wheel in dist.glob("*.whl")}


def install_alone(wheel: Path, target: Path) -> Path:
    """An empty virtualenv with `wheel` and its dependencies: third-party ones from the
    wheelhouse, the project's own (the contract, the generated client) from the wheel's
    folder; no index, no network."""
    assert WHEELHOUSE.is_dir(), "no wheelhouse: run `make setup`"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-index", "--find-links", str(WHEELHOUSE), "--find-links", str(wheel.parent),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return python
