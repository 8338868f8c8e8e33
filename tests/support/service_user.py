"""A throwaway system user (and group) for tests that must run a command as someone else.

Only root can make one; tests skip otherwise. The user can run this checkout's CLI: with
the test interpreter when the user may execute it, else with a system Python of the same
version given the virtual environment's packages (an interpreter under /root is not
reachable by other users)."""

from __future__ import annotations

import contextlib
import os
import shutil
import site
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def throwaway_user():
    """Yields (user, group): a new system user and a new group it is NOT a member of."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd to make a throwaway user")
    tag = uuid.uuid4().hex[:8]
    user, group = f"dab{tag}", f"dabg{tag}"
    _run("groupadd", "--system", group)
    try:
        _run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user)
        try:
            yield user, group
        finally:
            subprocess.run(["userdel", user], capture_output=True, timeout=60)
    finally:
        subprocess.run(["groupdel", group], capture_output=True, timeout=60)


def cli_argv(user: str) -> list[str]:
    """How `user` runs `python -m deepart_batch.cli` from this checkout (arguments follow)."""
    probe = [sys.executable, "-c", "import deepart_batch"]
    try:
        ok = subprocess.run(probe, user=user, capture_output=True, timeout=60,
                            cwd="/", env={"PYTHONPATH": str(ROOT)}).returncode == 0
    except PermissionError:
        ok = False
    if ok:
        return [sys.executable, "-m", "deepart_batch.cli"]
    other = shutil.which(f"python{sys.version_info[0]}.{sys.version_info[1]}",
                         path="/usr/local/bin:/usr/bin:/bin")
    if other is None:
        pytest.skip("no Python this throwaway user may run")
    sites = [p for p in site.getsitepackages() if os.access(p, os.R_OK)]
    boot = (f"import site, sys, runpy; [site.addsitedir(p) for p in {sites!r}]; "
            f"sys.path.insert(0, {str(ROOT)!r}); sys.argv[0] = 'deepart-batch'; "
            f"runpy.run_module('deepart_batch.cli', run_name='__main__')")
    return [other, "-c", boot]
