"""allinone: one weight set, many nested pruning levels, latency that follows the clock.

The runtime (``Engine``, the DVFS governor, the CLI's info/run/bench/monitor/demo) needs only
numpy. Training and export need PyTorch and are imported lazily, on first use.
"""

from __future__ import annotations

from typing import Any

from allinone._core import __version__
from allinone.runtime import Engine

__all__ = ["Engine", "__version__", "export"]

# Reached through __getattr__ so that `import allinone` never imports torch.
_LAZY = {
    "export": ("allinone.exporter", "export"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'allinone' has no attribute {name!r}")
