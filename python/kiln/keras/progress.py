"""The Keras progress bar: ``verbose=1`` a live bar with ETA and running metrics,
``verbose=2`` one line per epoch.

On a terminal the bar redraws in place (at most 20 times a second); into a file or
a pipe it writes only the finished line, so logs stay readable.
"""

from __future__ import annotations

import sys
import time


def format_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    if seconds >= 1:
        return f"{seconds:.0f}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms"
    return f"{seconds * 1e6:.0f}us"


def format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class ProgressBar:
    def __init__(self, target: int, verbose: int = 1, width: int = 30, stream=None, interval: float = 0.05):
        self.target, self.verbose, self.width = target, verbose, width
        self.stream = stream or sys.stdout
        self.interval = interval
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.live = verbose == 1 and getattr(self.stream, "isatty", lambda: False)()
        self.last_length = 0

    def _bar(self, current: int) -> str:
        digits = len(str(self.target))
        filled = int(self.width * current / max(self.target, 1))
        arrow = ">" if current < self.target and filled < self.width else ""
        bar = "=" * (filled - (1 if arrow else 0)) + arrow
        return f"{current:>{digits}}/{self.target} [{bar:<{self.width}}]"

    def update(self, current: int, logs: dict, finalize: bool = False) -> None:
        now = time.perf_counter()
        if self.verbose == 0:
            return
        if not finalize and (not self.live or now - self.last_draw < self.interval):
            return
        self.last_draw = now
        elapsed = now - self.start
        if finalize:
            per_step = elapsed / max(current, 1)
            timing = f"{format_duration(elapsed)} {format_duration(per_step)}/step"
        else:
            eta = elapsed / max(current, 1) * (self.target - current)
            timing = f"ETA: {format_duration(eta)}"
        line = f"{timing} - {format_logs(logs)}" if logs else timing
        line = f"{self._bar(current)} - {line}" if self.verbose == 1 else line
        if self.live:
            pad = max(self.last_length - len(line), 0)
            self.stream.write("\r" + line + " " * pad)
            self.last_length = len(line)
        else:
            self.stream.write(line)
        if finalize:
            self.stream.write("\n")
        self.stream.flush()
