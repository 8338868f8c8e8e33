"""A throwaway system user and group, to run the daemon as a service user who is not the
owner of what the team copies in (root only); and a Python that user can execute."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class ServiceUser:
    name: str
    uid: int
    gid: int
    team_group: str
    team_gid: int

    def popen_kwargs(self, with_team_group: bool = True) -> dict:
        return {"user": self.uid, "group": self.gid,
                "extra_groups": [self.team_gid] if with_team_group else []}


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def service_user():
    """Yields a ServiceUser (a system user, and a 'marketing' group it is a member of); both
    are removed afterwards. Skips unless root with useradd."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the daemon must run as another user than the team's")
    if not shutil.which("useradd") or not shutil.which("groupadd"):
        pytest.skip("needs useradd and groupadd")
    tag = uuid.uuid4().hex[:8]
    name, team = f"dpt-svc-{tag}", f"dpt-mkt-{tag}"
    _run("groupadd", "--system", team)
    try:
        _run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             "--user-group", name)
        try:
            pw = pwd.getpwnam(name)
            yield ServiceUser(name, pw.pw_uid, pw.pw_gid, team, grp.getgrnam(team).gr_gid)
        finally:
            _run("userdel", name)
    finally:
        subprocess.run(["groupdel", team], capture_output=True)


def python_for(user: ServiceUser) -> tuple[str, dict]:
    """(interpreter, env) with which `user` can run this project: the running interpreter
    when the user can execute it, else a system one of the same version with this
    environment's site-packages on PYTHONPATH. Skips when there is none."""
    site = sysconfig.get_paths()["purelib"]
    root = str(Path(__file__).resolve().parents[2])
    env = {"PYTHONPATH": os.pathsep.join([root, site])}
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
    pytest.skip(f"no {version} that {user.name} may execute")
