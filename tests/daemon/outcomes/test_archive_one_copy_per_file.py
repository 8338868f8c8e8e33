"""done/ keeps one copy per distinct file: the same name with the same bytes, taken again
(a preview approved twice, a photo dropped twice), is not archived again; the same name
with other bytes gets its own numbered copy. `prune` removes a shared copy only with the
last input that uses it."""

import shutil

from PIL import Image

from deepart_batch.core.layout import StateLayout
from deepart_batch.daemon.admin.retention import prune
from deepart_batch.journal import Journal
from support.boxes import Box
from support.manifests import DATA, ONE_STYLE

APPROVE_MANIFEST = """
styles:
  starry: {image: starry_night.jpg}
rules:
  - match: "**"
    outputs: [{style: starry}]
"""


def _files(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".json"))


def test_a_preview_approved_again_is_archived_once(tmp_path):
    box = Box(tmp_path, manifest=APPROVE_MANIFEST,
              defaults={"size": 64, "steps": 4, "log_every": 1, "print_size": 128})
    box.drop("tubingen.jpg", "spring/photo.jpg")
    assert box.run_once().returncode == 0
    [preview] = box.outputs()
    preview = box.outbox / preview
    approve = box.outbox / "_approve"
    for _ in range(3):    # approved, then approved twice more with the very same file
        shutil.copy(preview, approve / preview.name)
        res = box.run_once()
        assert res.returncode == 0, res.stderr[-2000:]
        assert not list(approve.iterdir())
    archived = box.state / "done" / "_approve"
    assert _files(archived) == [preview.name], _files(archived)
    assert "already printed" in res.stderr


def test_a_photo_dropped_again_is_archived_once_and_other_bytes_get_their_own(tmp_path):
    box = Box(tmp_path, manifest=ONE_STYLE, canned=True)
    for _ in range(2):                       # the same photo, twice
        box.drop("tubingen.jpg", "spring/photo.jpg")
        assert box.run_once().returncode == 0
    done = box.state / "done" / "spring"
    assert _files(done) == ["photo.jpg"]
    with Image.open(DATA / "tubingen.jpg") as im:   # the same name, other bytes
        im.convert("RGB").rotate(90, expand=True).save(box.inbox / "spring" / "photo.jpg")
    assert box.run_once().returncode == 0
    [numbered] = set(_files(done)) - {"photo.jpg"}
    assert _files(done) == sorted(["photo.jpg", numbered]) and numbered.startswith("photo.")
    journal = Journal(StateLayout(box.state).journal)
    try:
        inputs = journal.history("spring/photo.jpg")
        assert [i.archived_to for i in inputs[:2]] == [str(done / "photo.jpg")] * 2
        assert inputs[2].archived_to == str(done / numbered)
        # prune the first drop only: the copy the second still uses stays
        between = (inputs[0].finished_at + inputs[1].finished_at) / 2
        result = prune(journal, box.state, older_than=0, now=between)
        assert result.inputs == 1, result
        assert (done / "photo.jpg").is_file()
        result = prune(journal, box.state, older_than=0, now=inputs[1].finished_at + 0.001)
        assert result.inputs == 1 and result.files == 1, result
        assert _files(done) == [numbered]
    finally:
        journal.close()
