"""The repository stands alone: no tracked file reaches for a path outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Parent-folder steps in a command, a config or code; Markdown links and a build
# config's paths count from their own file, everything else from the root, where make
# and the tests run.
UP_LEVELS = re.compile(r"(?<![\w.])(?:\.\./)+[\w.-]*")
# Path(__file__).parents[N] or Path(__file__).parent.parent...: N + 1 levels up.
FILE_ANCESTOR = re.compile(r"__file__\)(?:\.resolve\(\))?(?:\.parents\[(\d+)\]|((?:\.parent\b)+))")


def tracked_texts() -> dict[str, str]:
    """Tracked files, and new ones not ignored: what a commit would carry."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    texts = {}
    for name in filter(None, names):
        try:
            texts[name.decode()] = (ROOT / name.decode()).read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue
    return texts


def outside_references(name: str, text: str) -> list[str]:
    own_folder = name.endswith((".md", "pyproject.toml"))
    base = (ROOT / name).parent if own_folder else ROOT
    found = [
        match.group(0)
        for match in UP_LEVELS.finditer(text)
        if not (base / match.group(0)).resolve().is_relative_to(ROOT)
    ]
    depth = len(Path(name).parts) - 1
    for match in FILE_ANCESTOR.finditer(text):
        levels = int(match.group(1)) + 1 if match.group(1) else match.group(2).count(".parent")
        if levels > depth + 1:
            found.append(match.group(0))
    return found


def test_no_tracked_file_names_a_path_outside_the_repository() -> None:
    texts = tracked_texts()
    assert "Makefile" in texts and "tests/test_self_contained.py" in texts
    offences = {
        name: refs for name, text in texts.items() if (refs := outside_references(name, text))
    }
    assert offences == {}


def test_the_check_catches_both_ways_of_leaving_the_repository() -> None:
    # Built from pieces, so that this file does not itself hold what it looks for.
    up, anchor = "." * 2 + "/", "Path(__file__).resolve()"
    assert outside_references("Makefile", f"make check UPSTREAM={up}elsewhere/spec.yml")
    assert outside_references("tests/x.py", f'{anchor}.parents[2] / "x"')
    assert outside_references("tests/x.py", "Path(__file__)" + ".parent" * 3)
    assert not outside_references("tests/x.py", f"{anchor}.parents[1]")
    assert not outside_references("generated/client/docs/A.md", f"[back]({up}README.md)")
