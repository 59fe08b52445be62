"""How many examples a property test draws: every one in `make test`, a share of them in
`make test-fast` (PROPERTY_EXAMPLES_SHARE), so that a quick run still exercises each
property and stays within its minute."""

from __future__ import annotations

import os

# Below this a property sees too few shapes to be worth running at all.
MIN_EXAMPLES = 20


def examples(full: int) -> int:
    share = float(os.environ.get("PROPERTY_EXAMPLES_SHARE", "1"))
    return max(MIN_EXAMPLES, round(full * share))
