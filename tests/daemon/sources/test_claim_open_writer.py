"""A writer that keeps a photo open across the claim cannot make done/ archive a version
other than the one rendered and hashed: the claim copies the bytes from
an O_NOFOLLOW fd into a fresh inode in work/, so later writes go to the inbox's old inode."""

import hashlib
import io

from PIL import Image

from support.boxes import stop, wait_for
from support.manifests import DATA
from support.fault_helpers import fault_box


def test_writes_after_the_claim_do_not_reach_the_archived_photo(tmp_path):
    box = fault_box(tmp_path, defaults={"size": 32, "steps": 30, "log_every": 1})
    first = (DATA / "tubingen.jpg").read_bytes()
    target = box.inbox / "open.jpg"
    writer = open(target, "wb")             # an uploader that never closes its file
    writer.write(first)
    writer.flush()
    proc = box.start_watch()
    try:
        wait_for(lambda: not target.exists(), timeout=240, what="the claim")
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (0, 200, 0)).save(buf, "JPEG")
        writer.seek(0)                        # the writer goes on: a second version
        writer.write(buf.getvalue())
        writer.truncate()
        writer.flush()
        done = box.state / "done" / "open.jpg"
        wait_for(done.exists, timeout=300, what="the photo archived")
    finally:
        writer.close()
        assert stop(proc) == 0
    assert hashlib.sha256(done.read_bytes()).hexdigest() == hashlib.sha256(first).hexdigest()
