"""`validate` run as the service user without the team's group (as `runuser -u deepart`
without `-G marketing` does): problem lines that say what to do, exit 2, never a traceback.
Real users, real modes: the test makes a throwaway system user and group."""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from support.manifests import DATA, MANIFEST  # noqa: E402
from support.boxes import write_config  # noqa: E402
from support.service_user import cli_argv, throwaway_user  # noqa: E402


@pytest.fixture
def site():
    root = Path(tempfile.mkdtemp(prefix="dab-access-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def make_box(root: Path, styles_rel: str) -> Path:
    for name in ("inbox", "outbox", "state"):
        (root / name).mkdir()
        (root / name).chmod(0o777)
    styles = root / styles_rel
    styles.mkdir(parents=True)
    for name in ("starry_night.jpg", "the_scream.jpg"):
        shutil.copy(DATA / name, styles / name)
        (styles / name).chmod(0o644)
    (root / "manifest.yaml").write_text(MANIFEST)
    config = root / "config.yaml"
    write_config(config, {"inbox": "inbox", "outbox": "outbox", "state_dir": "state",
                          "styles_dir": str(styles_rel), "manifest": "manifest.yaml"})
    for path in (root / "manifest.yaml", config):
        path.chmod(0o644)
    return config


def validate_as(user: str, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*cli_argv(user), "validate", "--config", str(config)], user=user,
                          capture_output=True, text=True, timeout=120, cwd="/",
                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})


def check_told(res, user, group, folder: Path) -> None:
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert "Traceback" not in out and "PermissionError" not in out, out
    lines = [line for line in res.stderr.splitlines() if str(folder) in line]
    assert lines and all(line.startswith("deepart-batch: error: ") for line in lines), out
    told = "\n".join(lines)
    assert "styles_dir" in told and "cannot" in told, told
    assert f"runuser -u {user} -G {group}" in told and "SupplementaryGroups=" in told, told


@pytest.mark.parametrize("styles_rel", ["styles", "team/styles"])
def test_validate_without_the_group_says_what_to_do(site, styles_rel):
    """styles: the styles folder is 0750 root:<group>; team/styles: its parent is."""
    config = make_box(site, styles_rel)
    closed = site / styles_rel.split("/")[0]
    with throwaway_user() as (user, group):
        shutil.chown(closed, "root", group)
        closed.chmod(0o750)
        res = validate_as(user, config)
        check_told(res, user, group, closed)
        closed.chmod(0o755)                      # the group fixed: valid again
        res = validate_as(user, config)
        assert res.returncode == 0, res.stdout + res.stderr


def test_install_guide_validates_as_the_service_with_its_group():
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    lines = [line for line in guide.splitlines() if line.startswith("runuser")
             and "validate" in line]
    assert lines and all("runuser -u deepart -G marketing --" in line for line in lines), lines


def test_a_log_folder_this_user_cannot_create_names_the_folder_that_blocks_it(site):
    """logging.json_file's folder is made by the service, so its absence is fine; the
    folder above it that exists must let the service user create it."""
    config = make_box(site, "styles")
    locked = site / "locked"          # root's, 0755: the service user cannot write in it
    locked.mkdir()
    text = config.read_text() + f"logging: {{json_file: {locked / 'logs' / 'd.jsonl'}}}\n"
    config.write_text(text)
    with throwaway_user() as (user, group):
        res = validate_as(user, config)
        out = res.stdout + res.stderr
        assert res.returncode == 2 and "Traceback" not in out, out
        [line] = [line for line in res.stderr.splitlines() if "logging.json_file" in line]
        assert f"{locked} cannot be written by this user" in line, line
        assert f"creates {locked / 'logs'}" in line, line
        locked.chmod(0o777)           # now it can: valid, though logs/ is not there yet
        res = validate_as(user, config)
        assert res.returncode == 0, res.stdout + res.stderr
        assert not (locked / "logs").exists()


def test_a_masks_folder_this_user_cannot_read_is_refused(site):
    """Rules that use masks need the masks folder listed by the service user (root reads
    any folder, so this runs as a throwaway user)."""
    config = make_box(site, "styles")
    (site / "manifest.yaml").write_text('styles:\n  starry: {image: starry_night.jpg}\n'
                                        'rules:\n  - match: "**"\n    mask: optional\n'
                                        '    outputs: [{style: starry}]\n')
    masks = site / "masks"            # masks_dir unset: `masks` beside the inbox
    masks.mkdir(mode=0o700)           # root's and closed: the user cannot list its masks
    masks.chmod(0o700)
    with throwaway_user() as (user, group):
        res = validate_as(user, config)
        out = res.stdout + res.stderr
        assert res.returncode == 2 and "Traceback" not in out, out
        assert "cannot read it" in res.stderr and str(masks) in res.stderr, out
        masks.chmod(0o755)
        res = validate_as(user, config)
        assert res.returncode == 0, res.stdout + res.stderr
