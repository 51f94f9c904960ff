"""A tiny progress printer (no tqdm dependency): one line, rewritten in place on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """``Progress(total, "epoch 1")``; ``update(n, loss=...)``; ``close()``.

    On a terminal the line is redrawn at most ``min_interval`` seconds apart; elsewhere (logs,
    CI) only the final line is printed.
    """

    def __init__(
        self, total: int, desc: str = "", stream: TextIO | None = None, min_interval: float = 0.2
    ) -> None:
        self.total = max(1, int(total))
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.min_interval = min_interval
        self.done = 0
        self.info = ""
        self.start = time.perf_counter()
        self._last = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def _line(self) -> str:
        frac = min(1.0, self.done / self.total)
        bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
        el = time.perf_counter() - self.start
        eta = el / frac - el if frac > 0 else 0.0
        head = f"{self.desc} [{bar}] {self.done}/{self.total}"
        return f"{head} {el:5.0f}s eta {eta:4.0f}s {self.info}"

    def update(self, n: int = 1, **info: float) -> None:
        self.done += n
        if info:
            self.info = " ".join(f"{k}={v:.3f}" for k, v in info.items())
        now = time.perf_counter()
        if self._tty and now - self._last >= self.min_interval:
            self._last = now
            self.stream.write("\r" + self._line())
            self.stream.flush()

    def close(self) -> None:
        self.stream.write(("\r" if self._tty else "") + self._line() + "\n")
        self.stream.flush()
