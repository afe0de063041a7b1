"""Memory and CPU time of the processes a benchmark runs, sampled in a thread every 0.2 s (psutil).

``rss`` is what each process has resident; ``pss`` (proportional set size) splits every shared page
among the processes that map it, so the PSS of several processes adds up to what they cost together
(W copies of the same interpreter are not counted W times for the pages they share). CPU time is
user + system seconds from the first sample to the last.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import psutil

Measure = Literal["rss", "pss"]

_READERS: dict[Measure, Callable[[psutil.Process], int]] = {
    "rss": lambda process: process.memory_info().rss,
    "pss": lambda process: process.memory_full_info().pss,
}


@dataclass
class ProcessSampler:
    """Per process (by name): its first and peak memory, the peak of their sum at one sample, and the
    CPU seconds it used while sampled."""

    pids: dict[str, int]
    measure: Measure = "rss"
    first: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    peak_total: int = 0
    _cpu_first: dict[str, float] = field(default_factory=dict)
    _cpu_last: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sample(self) -> None:
        read = _READERS[self.measure]
        total = 0
        for name, pid in self.pids.items():
            try:
                process = psutil.Process(pid)
                value = read(process)
                cpu = process.cpu_times()
            except psutil.Error:
                continue
            self._cpu_first.setdefault(name, cpu.user + cpu.system)
            self._cpu_last[name] = cpu.user + cpu.system
            total += value
            self.first.setdefault(name, value)
            self.peak[name] = max(self.peak.get(name, 0), value)
        self.peak_total = max(self.peak_total, total)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def __enter__(self) -> ProcessSampler:
        self._sample()
        self._thread = threading.Thread(target=self._run, name=f"{self.measure}-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def cpu_seconds(self) -> dict[str, float]:
        return {name: round(last - self._cpu_first[name], 2) for name, last in self._cpu_last.items()}


def megabytes(value: int) -> float:
    return round(value / 2**20, 1)
