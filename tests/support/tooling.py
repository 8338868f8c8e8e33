"""Tests that need a system tool: skipped on a developer box without it, failed in CI.

`.ci/run` installs every tool the suite needs (systemd-analyze, chromium); in CI (`CI` set)
a missing one is a missing install step, so the test fails instead of skipping silently.
"""

import os

import pytest


def need(available: bool, message: str) -> None:
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set: .ci/run must install it)")
    pytest.skip(message, allow_module_level=True)
