"""Nothing the outbox holds names a path of the server's disk: reports, notes and pages say
where things are relative to the outbox or the styles folder. Walked after a pass with
photos, an approval printed, an approval refused and a file that is not a photo."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from support.approvals import approved_box  # noqa: E402

SHARED_FILES = (".json", ".html", ".txt")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    scene = approved_box(tmp_path_factory.mktemp("paths"))
    (scene.box.inbox / "city" / "notes.jpg").write_text("not a picture")
    res = scene.box.run_once()
    assert res.returncode != 0, res.stderr[-2000:]   # notes.jpg failed: its note is written
    return scene


def server_paths(outbox: Path, root: Path) -> dict[str, list[str]]:
    """Each outbox file that names a path under the box's root, with the lines that do."""
    roots = {str(root), os.path.realpath(root)}
    found = {}
    for path in sorted(outbox.rglob("*")):
        if not path.is_file() or path.suffix not in SHARED_FILES:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = [line.strip()[:200] for line in text.splitlines()
                 if any(r in line for r in roots)]
        if lines:
            found[str(path.relative_to(outbox))] = lines
    return found


def test_no_file_in_the_outbox_names_a_server_path(scene):
    outbox = scene.box.outbox
    kinds = {p.suffix for p in outbox.rglob("*") if p.is_file()}
    assert {".json", ".html", ".txt"} <= kinds, kinds   # reports, pages and a note
    assert scene.printed.is_file() and list((outbox / "_problems").rglob("*.txt"))
    assert server_paths(outbox, scene.box.root) == {}
