"""The compiled DVFS core (allinone._core.dvfs), in one place so every module imports it alike."""

from __future__ import annotations

from allinone._core import dvfs as native

__all__ = ["native"]
