"""Helpers shared by the benchmark scripts: peak memory, tables, machine info."""

from __future__ import annotations

import contextlib
import os
import platform
import threading
import time
from pathlib import Path

import pandas as pd
import psutil

OUT = Path(__file__).resolve().parent / "results"


class PeakRSS:
    """Sample resident memory in a thread; ``peak`` in MB.

    ``children=True`` adds the RSS of child processes (dask workers) to this process's.
    """

    def __init__(self, interval: float = 0.02, children: bool = False) -> None:
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()
        self._proc = psutil.Process(os.getpid())
        self._children = children

    def _now(self) -> float:
        procs = [self._proc, *(self._proc.children(recursive=True) if self._children else [])]
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.Error):  # a worker may exit meanwhile
                total += p.memory_info().rss
        return total / 1e6

    def __enter__(self) -> PeakRSS:
        self.base = self._now()
        self.peak = self.base
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._now())
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self._now())


def machine() -> str:
    return (f"{platform.node()} · {platform.processor() or platform.machine()} · "
            f"{os.cpu_count()} cores · {psutil.virtual_memory().total / 2**30:.0f} GiB · "
            f"Python {platform.python_version()}")


def write(df: pd.DataFrame, name: str) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.csv"
    df.to_csv(path, index=False)
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    body = "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in df.itertuples(index=False))
    (OUT / f"{name}.md").write_text(f"Machine: {machine()}\n\n{head}{body}")
    print(df.to_string(index=False))
    print(f"\nwritten: {path}")
    return path
