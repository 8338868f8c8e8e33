"""Throwaway system users (and groups) for tests that must run a command as someone else:
the daemon as a service user who is not the owner of what the team copies in, or a CLI run
by a user outside a folder's group.

Only root can make one; tests skip otherwise. The user can run this checkout: with the test
interpreter when the user may execute it, else with a system Python of the same version
given the virtual environment's packages (an interpreter under /root is not reachable by
other users)."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import site
import subprocess
import sys
import sysconfig
import uuid
from dataclasses import dataclass
from pathlib import Path

from .tooling import need

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServiceUser:
    name: str
    uid: int
    gid: int
    team_group: str
    team_gid: int

    def popen_kwargs(self, with_team_group: bool = True) -> dict:
        """subprocess arguments that run as this user, a member of the team's group."""
        return {"user": self.uid, "group": self.gid,
                "extra_groups": [self.team_gid] if with_team_group else []}


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def _system_user(user: str, group: str, *useradd_options: str):
    """A new system group `group` and system user `user` (created in that order), both
    removed afterwards."""
    _run("groupadd", "--system", group)
    try:
        _run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             *useradd_options, user)
        try:
            yield
        finally:
            subprocess.run(["userdel", user], capture_output=True, timeout=60)
    finally:
        subprocess.run(["groupdel", group], capture_output=True, timeout=60)


def service_user():
    """Yields a ServiceUser (a system user with its own group, and a 'marketing' group the
    user is a member of through popen_kwargs); both are removed afterwards. For a fixture:
    `yield from service_user()`. Skips unless root with useradd."""
    need(os.geteuid() == 0, "needs root: the daemon must run as another user than the team's")
    need(bool(shutil.which("useradd") and shutil.which("groupadd")),
         "needs useradd and groupadd")
    tag = uuid.uuid4().hex[:8]
    name, team = f"dpt-svc-{tag}", f"dpt-mkt-{tag}"
    with _system_user(name, team, "--user-group"):
        pw = pwd.getpwnam(name)
        yield ServiceUser(name, pw.pw_uid, pw.pw_gid, team, grp.getgrnam(team).gr_gid)


@contextlib.contextmanager
def throwaway_user():
    """Yields (user, group): a new system user and a new group it is NOT a member of."""
    need(os.geteuid() == 0 and bool(shutil.which("useradd")),
         "needs root and useradd to make a throwaway user")
    tag = uuid.uuid4().hex[:8]
    user, group = f"dab{tag}", f"dabg{tag}"
    with _system_user(user, group):
        yield user, group


def python_for(user: ServiceUser) -> tuple[str, dict]:
    """(interpreter, env) with which `user` can run this project: the running interpreter
    when the user can execute it, else a system one of the same version with this
    environment's site-packages on PYTHONPATH. Skips when there is none."""
    purelib = sysconfig.get_paths()["purelib"]
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), purelib])}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        try:
            probe = subprocess.run([candidate, "-c", "import yaml, loguru, watchdog"],
                                   user=user.uid, group=user.gid, capture_output=True,
                                   env={**os.environ, **env}, timeout=60)
        except OSError:           # e.g. inside a home folder the user may not enter
            continue
        if probe.returncode == 0:
            return candidate, env
    need(False, f"no {version} that {user.name} may execute")


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
        need(False, "no Python this throwaway user may run")
    sites = [p for p in site.getsitepackages() if os.access(p, os.R_OK)]
    boot = (f"import site, sys, runpy; [site.addsitedir(p) for p in {sites!r}]; "
            f"sys.path.insert(0, {str(ROOT)!r}); sys.argv[0] = 'deepart-batch'; "
            f"runpy.run_module('deepart_batch.cli', run_name='__main__')")
    return [other, "-c", boot]
