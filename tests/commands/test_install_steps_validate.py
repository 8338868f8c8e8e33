"""The install guide (docs/operations.md, "Install as a service", steps 2 and 3, where the
README sends a render box), followed literally on a fresh box: its commands, as written,
run as root from the checkout in a private mount namespace whose /srv and /var/lib are
empty (as on a box that was just set up: no /var/lib/deepart-batch, which systemd makes at
the first start), with a fresh service user and team group in place of `deepart` and
`marketing`, /etc/deepart-batch under a throwaway folder, and the example config edited the
way step 3 says. `validate`, run the way step 3 runs it, exits 0 with no error line."""

import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support.service_user import cli_argv, service_user  # noqa: E402
from support.tooling import need  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "operations.md"
README = ROOT / "README.md"
UNITS = ROOT / "deepart_batch" / "ops" / "unit_templates"
# Steps that install software, not the box's folders and config (the test runs this checkout).
NOT_HERE = ("apt-get ", "python3 -m venv", "/bin/pip ", "getfacl ")
STATE_DIR = "/var/lib/deepart-batch"


@pytest.fixture
def etc():
    """Where /etc/deepart-batch goes (the host's /etc is left alone)."""
    root = Path(tempfile.mkdtemp(prefix="dab-install-", dir="/tmp"))   # reachable by others
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def users():
    yield from service_user()


def guide_steps(first: str, last: str) -> list[str]:
    """The shell commands of the guide between two headings, continuation lines joined,
    comments dropped."""
    text = GUIDE.read_text()
    part = text[text.index(first):text.index(last)]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", part, re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = "" if line.lstrip().startswith("#") else line.split(" #")[0].strip()
            if line:
                commands.append(line)
    return commands


def on_this_box(command: str, etc: Path, users, cli: list[str]) -> str:
    """The guide's command with its user and group the throwaway ones, /etc/deepart-batch
    under `etc` and the program this checkout."""
    command = command.replace("/etc/deepart-batch", f"{etc}/deepart-batch")
    command = re.sub(r"(-o|-u) deepart\b", rf"\1 {users.name}", command)
    command = re.sub(r"(-g|-G) marketing\b", rf"\1 {users.team_group}", command)
    command = command.replace("g:marketing:", f"g:{users.team_group}:")
    return command.replace("/opt/deepart-batch/.venv/bin/deepart-batch", shlex.join(cli))


def test_the_units_make_the_state_dir_validate_expects_systemd_to_make():
    from deepart_batch.settings.service_files import SYSTEMD_STATE_DIR
    assert str(SYSTEMD_STATE_DIR) == STATE_DIR
    for unit in ("deepart-batch.service.in", "deepart-batch-bulk.service.in"):
        assert f"StateDirectory={SYSTEMD_STATE_DIR.name}\n" in (UNITS / unit).read_text()
    example = (ROOT / "config.example.yaml").read_text()
    assert re.search(rf"^state_dir: {STATE_DIR}\s", example, re.M)


def test_the_install_guide_followed_literally_passes_validate(etc, users):
    need(bool(shutil.which("unshare")), "needs unshare for a private /srv and /var/lib")
    assert "docs/operations.md#install-as-a-service" in README.read_text()
    setup = guide_steps("### 2. Directories", "**Folders elsewhere.**")
    app = guide_steps("### 3. Application and config", "**torch for your hardware.**")
    assert any(c.startswith("install -d") and "/srv/deepart/inbox" in c for c in setup), setup
    assert any(c.startswith("install -m 0644 config.example.yaml") for c in app), app
    [validate] = [c for c in app if " validate" in c]
    assert validate.startswith("runuser -u deepart -G marketing --"), validate
    config = f"{etc}/deepart-batch/config.yaml"
    script = ["set -e", "mount --make-rprivate /",
              "mount -t tmpfs -o mode=0755 tmpfs /srv",        # a fresh box's /srv
              "mount -t tmpfs -o mode=0755 tmpfs /var/lib"]    # and /var/lib
    cli = cli_argv(users.name)
    for command in setup + app:
        if any(skip in command for skip in NOT_HERE) or command == validate:
            continue
        if command.startswith("setfacl") and not shutil.which("setfacl"):
            continue      # no acl package on this box: validate then only notes it
        script.append(on_this_box(command, etc, users, cli))
        if command.startswith("install -m 0644 config.example.yaml"):
            # step 3's edit: the example's paths are the guide's; no node_exporter here,
            # so its metrics.textfile line goes; logging.json_file stays
            script.append(f"sed -i '/^ *textfile:/d' {shlex.quote(config)}")
    script += [f"test ! -e {STATE_DIR}",      # "created by systemd; do not create by hand"
               "set +e", on_this_box(validate, etc, users, cli), "rc=$?",
               f"test ! -e {STATE_DIR} || echo 'VALIDATE CREATED {STATE_DIR}'",
               "exit $rc"]
    res = subprocess.run(["unshare", "--mount", "bash", "-c", "\n".join(script)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
    out = res.stdout + res.stderr
    errors = [line for line in out.splitlines() if "error" in line.lower()]
    assert res.returncode == 0 and errors == [], out
    assert "Traceback" not in out and "VALIDATE CREATED" not in out, out
    assert f"{config}: OK" in res.stdout, out
    assert f"{STATE_DIR} is not there yet: systemd makes it" in res.stderr, out
