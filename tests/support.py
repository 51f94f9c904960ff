"""Helpers shared by tests that start Python subprocesses.

A subprocess must import the same ``allinone`` as the test run: the source tree in a developer
build (PYTHONPATH=.), site-packages after ``pip install``. Pointing it at the repository root
would shadow an installed package with a source tree that has no compiled ``_core``.
"""

from __future__ import annotations

from pathlib import Path

import allinone

PACKAGE_PARENT = str(Path(allinone.__file__).resolve().parent.parent)
