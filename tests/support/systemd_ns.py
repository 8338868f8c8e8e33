"""A real systemd (252 on Debian 12) as PID 1 of a private namespace, with deepart-batch
installed into it the way README.md's "Install as a service" says.

PID 1 on the test boxes and in CI containers is not systemd, so `systemctl` has nothing to
talk to. Instead each test module boots its own systemd:

Boot (`boot.sh`)
    The Python side makes a fresh cgroup under the host's cgroup2 hierarchy and moves a shell
    into it, which runs ``unshare --cgroup --pid --fork --mount --mount-proc bash boot.sh``.
    The cgroup namespace makes that cgroup the root of everything this systemd creates, so
    two booted systemds (two test runs side by side) never manage, or kill, each other's
    units; without a cgroup2 hierarchy to nest in, it falls back to the plain recipe.
    ``boot.sh`` (``set -e``):

    1. ``mount --make-rprivate /``: nothing mounted below propagates to the host.
    2. User and groups (README step 1) without touching the host: copies of the host's
       ``/etc/passwd`` and ``/etc/group`` with the ``deepart`` system user (home
       ``/var/lib/deepart-batch``, shell ``/usr/sbin/nologin``) and the ``deepart`` and
       ``marketing`` groups appended under free ids. They become the upper layer of an
       overlay on ``/etc`` (upper and work dirs on a private ``/run`` tmpfs), so they stay
       in place even when the host's package manager replaces its own files meanwhile (a
       bind mount over ``/etc/group`` is lost when that happens); plain bind mounts are the
       fallback where overlayfs is missing.
    3. ``/opt`` becomes a tmpfs with the checkout and the site-packages bound in (below).
    4. A private tmpfs on ``/tmp``, then ``/var/tmp``, ``/etc/systemd/system``, ``/srv``,
       ``/etc/deepart-batch``, ``/var/lib/deepart-batch``, ``/var/cache/deepart-batch``,
       ``/var/lib/systemd`` and ``/var/log/journal``. ``/tmp`` is private before anything
       runs: systemd-tmpfiles empties the ``/tmp`` it sees at boot, and the host's would take
       every running test's files with it. The last two keep the timer stamps, random seed
       and journal files of this throw-away systemd off the host. (Mount points missing on
       the host outside ``/etc`` are created there, empty.) Boot-time units that act on the
       shared kernel or host files (udev, sysctl, gettys, ...; see ``MASKED``) are masked.
    5. ``/sys/fs/cgroup`` replaced by a cgroup2 mount (the namespace's root; systemd runs in
       its ``payload`` child so that the root holds no process but the host's ``unshare``).
    6. ``export container=other; exec /lib/systemd/systemd --system --unit=multi-user.target``.

    The systemd process is the child of ``unshare``; the harness drives it with
    ``nsenter -t <its host pid> -m -p systemctl ...`` and ends everything with SIGKILL to
    that pid (PID 1 of a pid namespace takes every process in it along).

Install (`install.sh`, run inside after boot; README steps 2, 3 and 5)
    The README builds ``/opt/deepart-batch/.venv`` with Debian's ``/usr/bin/python3`` and
    ``pip install torch .``. A test cannot download torch on every run, and the checkout's
    own venv is built on a pyenv python under ``/root``, which ``ProtectHome=yes`` hides from
    the service. So ``boot.sh`` bind-mounts, read-only, the checkout at
    ``/opt/deepart-batch/src`` and the checkout venv's site-packages (same python minor
    version as ``/usr/bin/python3``, hence the same ABI) at ``/opt/deepart-batch/site-packages``;
    ``install.sh`` then creates the venv with ``/usr/bin/python3 -m venv --without-pip``,
    adds a ``.pth`` naming those two folders (the checkout first, so the code under test
    wins over the site-packages' editable install, whose own ``.pth`` is not processed), and
    writes ``.venv/bin/deepart-batch`` as the console script pip writes (with its
    ``__main__`` guard: the render workers are spawned and re-import that script). The service
    therefore runs the checkout's code with Debian's interpreter, as the unprivileged user,
    in the units' sandbox. Directories, modes and owners are the README's ``install -d``
    lines, the config goes to ``/etc/deepart-batch/config.yaml`` and the three units are
    copied unmodified to ``/etc/systemd/system``; tests may add drop-ins next to them.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import uuid
from pathlib import Path

SYSTEMD = Path("/lib/systemd/systemd")
DEBIAN_PYTHON = Path("/usr/bin/python3")
UNITS = ("deepart-batch.service", "deepart-batch-bulk.service", "deepart-batch-bulk.timer")
OPT = "/opt/deepart-batch"
# /run and /opt get their tmpfs earlier, before the host files are copied or bound into them.
PRIVATE_TMPFS = ("/tmp", "/var/tmp", "/etc/systemd/system", "/srv", "/etc/deepart-batch",
                 "/var/lib/deepart-batch", "/var/cache/deepart-batch",
                 "/var/lib/systemd", "/var/log/journal")

# Boot-time units that would act on the shared kernel or the host's files, masked in the
# namespace: udev (coldplug re-triggers every device of the box), sysctl and modules-load
# (kernel-wide settings), remount-fs (the root superblock), sysusers (/etc/shadow), the
# gettys (the box's console and serial line), utmp (/var/log/wtmp), tmpfiles (directories
# all over /var; the private /tmp stays the safeguard for its `D /tmp`) and the /etc and
# /usr update stamps. Nothing the service needs.
MASKED = ("systemd-udevd.service", "systemd-udevd-control.socket",
          "systemd-udevd-kernel.socket", "systemd-udev-trigger.service",
          "systemd-udev-settle.service", "systemd-hwdb-update.service",
          "systemd-sysctl.service", "systemd-modules-load.service", "systemd-binfmt.service",
          "systemd-remount-fs.service", "systemd-sysusers.service",
          "systemd-tmpfiles-setup.service", "systemd-tmpfiles-setup-dev.service",
          "systemd-tmpfiles-clean.timer", "systemd-update-utmp.service",
          "systemd-update-utmp-runlevel.service", "systemd-update-done.service",
          "systemd-machine-id-commit.service", "ldconfig.service",
          "systemd-journal-catalog-update.service", "console-getty.service",
          "getty@.service", "serial-getty@.service", "container-getty@.service")


def requirements() -> list[tuple[bool, str]]:
    """(available, message) for everything the booted systemd needs, for tooling.need()."""
    debian_minor = None
    if DEBIAN_PYTHON.exists():
        out = subprocess.run([str(DEBIAN_PYTHON), "-c", "import sys, venv; "
                              "print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True)
        debian_minor = out.stdout.strip() if out.returncode == 0 else None
    ours = "%d.%d" % sys.version_info[:2]
    return [
        (os.geteuid() == 0, "booting systemd in a namespace needs root"),
        (SYSTEMD.exists(), f"{SYSTEMD} missing (Debian package 'systemd')"),
        (all(shutil.which(t) for t in ("unshare", "nsenter", "mount")),
         "unshare/nsenter/mount missing (util-linux)"),
        (debian_minor is not None, f"{DEBIAN_PYTHON} with the venv module missing "
                                   "(Debian packages python3, python3-venv)"),
        (debian_minor in (None, ours),
         f"{DEBIAN_PYTHON} is python {debian_minor}, the test venv python {ours}: the "
         "venv's site-packages cannot be lent to the service"),
    ]


class CommandFailed(RuntimeError):
    """A command inside the namespace failed: a harness problem unless a test expects it
    (not an AssertionError, so an `xfail(raises=AssertionError)` test cannot hide it)."""


def _cgroup2_parent() -> Path | None:
    """The host cgroup2 folder of this process, where a per-boot cgroup can be made."""
    mount_point = None
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[2] == "cgroup2":
            mount_point = Path(fields[1])
            break
    if mount_point is None:
        return None
    own = "/"
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            own = line[3:] or "/"
    folder = mount_point / own.lstrip("/")
    return folder if os.access(folder, os.W_OK) else None


def _free_id(taken: set[int], start: int = 900) -> int:
    n = start
    while n in taken:
        n += 1
    taken.add(n)
    return n


class SystemdNamespace:
    """One booted systemd. `boot()`, then `install(...)`, then drive it; `close()` ends it."""

    def __init__(self, workdir: Path, checkout: Path, site_packages: Path | None = None):
        self.workdir = Path(workdir)
        self.checkout = Path(checkout).resolve()
        self.site_packages = Path(site_packages or sysconfig.get_paths()["purelib"]).resolve()
        self.pid: int | None = None          # systemd, host pid
        self._unshare: subprocess.Popen | None = None
        self._cgroup: Path | None = None
        self.console = self.workdir / "console.log"
        self.ids: dict[str, int] = {}

    # -- boot ---------------------------------------------------------------------------
    def _accounts(self) -> tuple[Path, Path]:
        passwd = Path("/etc/passwd").read_text()
        group = Path("/etc/group").read_text()
        uids = {int(line.split(":")[2]) for line in passwd.splitlines() if line.count(":") >= 6}
        gids = {int(line.split(":")[2]) for line in group.splitlines() if line.count(":") >= 3}
        taken = uids | gids
        uid = _free_id(taken)
        gid = uid if uid not in gids else _free_id(taken)
        marketing = _free_id(taken)
        self.ids = {"deepart": uid, "deepart_group": gid, "marketing": marketing}
        p = self.workdir / "passwd"
        g = self.workdir / "group"
        p.write_text(passwd.rstrip("\n") + f"\ndeepart:x:{uid}:{gid}:deepart-batch renders:"
                     "/var/lib/deepart-batch:/usr/sbin/nologin\n")
        g.write_text(group.rstrip("\n") + f"\ndeepart:x:{gid}:\nmarketing:x:{marketing}:\n")
        return p, g

    def _boot_script(self, passwd: Path, group: Path) -> str:
        q = shlex.quote
        # Host files are read first: the passwd/group copies live in the work dir (often
        # under /tmp) and the checkout may too, and the private /tmp would hide them. Nothing
        # runs that could touch /tmp before the private one is mounted.
        etc = "/run/deepart-test/etc"
        lines = [
            "set -e",
            "mount --make-rprivate /",
            "mount -t tmpfs -o mode=0755 tmpfs /run",
            f"mkdir -p {etc}/upper {etc}/work",
            f"cp {q(str(passwd))} {etc}/upper/passwd",
            f"cp {q(str(group))} {etc}/upper/group",
            # An overlay, not file bind mounts: a bind on /etc/group is lost the moment the
            # host replaces its file (adduser, apt), and lookups of deepart then fail.
            f"mount -t overlay overlay -o lowerdir=/etc,upperdir={etc}/upper,workdir={etc}/work"
            f" /etc || {{ mount --bind {etc}/upper/passwd /etc/passwd && "
            f"mount --bind {etc}/upper/group /etc/group; }}",
            "mount -t tmpfs -o mode=0755 tmpfs /opt",
            f"mkdir -p {OPT}/src {OPT}/site-packages",
            f"mount --bind {q(str(self.checkout))} {OPT}/src",
            f"mount -o remount,bind,ro {OPT}/src",
            f"mount --bind {q(str(self.site_packages))} {OPT}/site-packages",
            f"mount -o remount,bind,ro {OPT}/site-packages",
        ]
        for folder in PRIVATE_TMPFS:       # /tmp first: see the module docstring
            mode = "1777" if folder in ("/tmp", "/var/tmp") else "0755"
            lines += [f"mkdir -p {folder}", f"mount -t tmpfs -o mode={mode} tmpfs {folder}"]
        lines += [f"ln -s /dev/null /etc/systemd/system/{unit}" for unit in MASKED]
        lines += [
            "umount -l /sys/fs/cgroup",
            "mount -t cgroup2 none /sys/fs/cgroup",
            "mkdir -p /sys/fs/cgroup/payload",
            "echo $$ > /sys/fs/cgroup/payload/cgroup.procs",
            "export container=other",
            f"exec {SYSTEMD} --system --unit=multi-user.target",
        ]
        return "\n".join(lines) + "\n"

    def boot(self, timeout: float = 90) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        passwd, group = self._accounts()
        script = self.workdir / "boot.sh"
        script.write_text(self._boot_script(passwd, group))
        parent = _cgroup2_parent()
        unshare = "unshare --pid --fork --mount --mount-proc"
        wrapper = f"exec {unshare} bash {shlex.quote(str(script))}"
        if parent is not None:
            self._cgroup = parent / f"deepart-systemd-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            self._cgroup.mkdir()
            wrapper = (f"echo $$ > {shlex.quote(str(self._cgroup / 'cgroup.procs'))} && "
                       f"exec {unshare} --cgroup bash {shlex.quote(str(script))}")
        log = open(self.console, "wb")
        self._unshare = subprocess.Popen(["bash", "-c", wrapper], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while self.pid is None:
            self._check_alive()
            children = Path(f"/proc/{self._unshare.pid}/task/{self._unshare.pid}/children")
            try:
                kids = children.read_text().split()
                if kids and Path(f"/proc/{kids[0]}/comm").read_text().strip() == "systemd":
                    self.pid = int(kids[0])
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"systemd did not start; console:\n{self.console_text()}")
            time.sleep(0.1)
        state = ""
        while state not in ("running", "degraded"):
            self._check_alive()
            state = self.run(["systemctl", "is-system-running"], check=False).stdout.strip()
            if time.monotonic() > deadline:
                raise RuntimeError(f"systemd is {state!r} after {timeout} s; console:\n"
                                   f"{self.console_text()}")
            time.sleep(0.3)

    def _check_alive(self) -> None:
        if self._unshare is not None and self._unshare.poll() is not None:
            raise RuntimeError(f"the namespace ended (exit {self._unshare.returncode}); "
                               f"console:\n{self.console_text()}")

    def console_text(self) -> str:
        try:
            return self.console.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # -- driving it -----------------------------------------------------------------------
    def run(self, argv: list[str], *, check: bool = True, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run a command inside the namespace (as root); pids it prints are namespace pids."""
        assert self.pid is not None, "boot() first"
        cmd = ["nsenter", "-t", str(self.pid), "-m", "-p", "--", *argv]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                input=input, env={**os.environ, "SYSTEMD_PAGER": "",
                                                  "SYSTEMD_COLORS": "0", "LC_ALL": "C.UTF-8"})
        if check and result.returncode != 0:
            raise CommandFailed(f"{shlex.join(argv)} exited {result.returncode}\n"
                                 f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    def sh(self, script: str, **kw) -> subprocess.CompletedProcess:
        return self.run(["bash", "-c", script], **kw)

    def systemctl(self, *args: str, check: bool = True, timeout: float = 400):
        return self.run(["systemctl", "--no-pager", *args], check=check, timeout=timeout)

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.systemctl("show", unit, *(f"--property={p}" for p in props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def prop(self, unit: str, name: str) -> str:
        return self.show(unit, name).get(name, "")

    def wait_for(self, predicate, timeout: float, what: str, interval: float = 0.5):
        """Poll `predicate()` until it returns something truthy; return that."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(interval)

    @staticmethod
    def mark() -> float:
        """Now, for `journal(since=...)`: the namespace shares the host's clock. (Journal
        cursors taken with `journalctl -n 0 --show-cursor` proved unreliable here: entries
        written in the same instant as the cursor's were sometimes skipped.)"""
        return time.time()

    def journal(self, *units: str, since: float | None = None) -> str:
        argv = ["journalctl", "--no-pager", "--quiet", "-o", "short-monotonic"]
        for unit in units:
            argv += ["-u", unit]
        if since is not None:
            argv += [f"--since=@{since:.6f}"]
        self.run(["journalctl", "--sync"], check=False)
        return self.run(argv, check=False).stdout

    def write(self, path: str, text: str, mode: str = "0644", owner: str = "root",
              group: str = "root") -> None:
        """Write a file inside the namespace with `install`, as the README does."""
        self.sh(f"t=$(mktemp) && cat > \"$t\" && install -m {mode} -o {owner} -g {group} "
                f"\"$t\" {shlex.quote(path)} && rm -f \"$t\"", input=text)

    # -- install --------------------------------------------------------------------------
    def install(self, config_yaml: str, manifest_yaml: str, styles: list[Path],
                dropins: dict[str, dict[str, str]] | None = None) -> None:
        """README steps 2, 3 and 5 inside the namespace; `dropins`: unit -> {name: text}."""
        q = shlex.quote
        src = f"{OPT}/src"
        rel_styles = " ".join(q(f"{src}/{p.resolve().relative_to(self.checkout)}")
                              for p in styles)
        pyver = "python%d.%d" % sys.version_info[:2]
        script = f"""set -e
# 2. Directories (README.md, "2. Directories")
install -d -o root    -g marketing -m 0750 /srv/deepart
install -d -o deepart -g marketing -m 2770 /srv/deepart/inbox
install -d -o deepart -g marketing -m 2750 /srv/deepart/outbox
install -d -o root    -g marketing -m 2775 /srv/deepart/styles
install -m 0664 -g marketing {rel_styles} /srv/deepart/styles/
# 3. Application: a venv on Debian's python lent the checkout and its site-packages
{DEBIAN_PYTHON} -m venv --without-pip {OPT}/.venv
printf '%s\\n' {OPT}/src {OPT}/site-packages \\
    > {OPT}/.venv/lib/{pyver}/site-packages/deepart-batch-under-test.pth
cat > {OPT}/.venv/bin/deepart-batch <<'EOF'
#!{OPT}/.venv/bin/python
# -*- coding: utf-8 -*-
import re
import sys
from deepart_batch.cli import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
EOF
chmod 0755 {OPT}/.venv/bin/deepart-batch
install -d -m 0755 /etc/deepart-batch
"""
        self.sh(script)
        self.write("/srv/deepart/inbox/manifest.yaml", manifest_yaml, mode="0664",
                   owner="deepart", group="marketing")
        self.write("/etc/deepart-batch/config.yaml", config_yaml)
        # 5. The project's own units, unmodified.
        for unit in UNITS:
            self.write(f"/etc/systemd/system/{unit}",
                       (self.checkout / "systemd" / unit).read_text())
        for unit, files in (dropins or {}).items():
            for name, text in files.items():
                self.sh(f"install -d -m 0755 /etc/systemd/system/{unit}.d")
                self.write(f"/etc/systemd/system/{unit}.d/{name}", text)
        self.systemctl("daemon-reload")

    # -- end ------------------------------------------------------------------------------
    def close(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._unshare is not None:
            try:
                self._unshare.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self._unshare.pid, signal.SIGKILL)
                self._unshare.wait(timeout=10)
        if self._cgroup is not None:
            self._remove_cgroup(self._cgroup)
        self.pid = None

    @staticmethod
    def _remove_cgroup(folder: Path) -> None:
        """rmdir the (now empty) cgroup tree, deepest first; processes die asynchronously."""
        deadline = time.monotonic() + 10
        while folder.exists() and time.monotonic() < deadline:
            for sub in sorted((p for p in folder.rglob("*") if p.is_dir()),
                              key=lambda p: len(p.parts), reverse=True):
                try:
                    sub.rmdir()
                except OSError:
                    pass
            try:
                folder.rmdir()
            except OSError:
                time.sleep(0.2)
