"""Progress of long runs: bars on a terminal, plain lines when output goes to a file.

``FLEXNET_PROGRESS`` selects the mode: ``bar`` (default; tqdm bars), ``lines`` (one line
on stderr at most every :data:`EVERY` seconds, with the caller's figures and the elapsed
time — the CLI's choice when stderr is not a terminal) or ``0`` (silent; ``-q``).
"""

from __future__ import annotations

import os
import sys
import time

__all__ = ["EVERY", "Ticker", "mode"]

#: seconds between two progress lines
EVERY = 10.0


def mode() -> str:
    """``"bar"``, ``"lines"`` or ``"0"``."""
    m = os.environ.get("FLEXNET_PROGRESS", "bar")
    return {"1": "bar"}.get(m, m)


class Ticker:
    """Prints ``desc: k=v ..., elapsed N s`` at most every :data:`EVERY` seconds in
    ``lines`` mode (and nothing otherwise)."""

    def __init__(self, desc: str, enabled: bool = True) -> None:
        self.desc, self.on = desc, enabled and mode() == "lines"
        self.t0 = self.last = time.perf_counter()

    def update(self, **figures: object) -> None:
        now = time.perf_counter()
        if not self.on or now - self.last < EVERY:
            return
        self.last = now
        text = ", ".join(f"{k} {v}" for k, v in figures.items())
        print(f"{self.desc}: {text}, elapsed {now - self.t0:.0f} s", file=sys.stderr, flush=True)
