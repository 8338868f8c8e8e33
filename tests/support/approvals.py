"""A box after approve-to-print: two photos of one campaign rendered as previews (64 px,
two outputs each), one preview approved and printed (128 px), and one approval of an
edited preview, refused. Real `run --once` passes: a canned render is too small to print."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .boxes import Box

PREVIEW = {"size": 64, "steps": 4, "log_every": 1, "print_size": 128}


@dataclass
class ApprovedBox:
    box: Box
    approved: Path        # the preview that was approved and printed
    refused: Path         # the preview whose edited copy was approved, and refused

    @property
    def printed(self) -> Path:
        return self.approved.with_name(self.approved.stem + ".print" + self.approved.suffix)


def approved_box(root: Path, **overrides) -> ApprovedBox:
    box = Box(root, defaults=PREVIEW, **overrides)
    box.drop("tubingen.jpg", "city/a.jpg")
    box.drop("golden_gate.jpg", "city/b.jpg")
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    approved, refused = box.outbox / "city" / "a.starry.jpg", box.outbox / "city" / "b.starry.jpg"
    assert approved.is_file() and refused.is_file(), box.outputs()
    approve = box.outbox / "_approve"
    shutil.copy(approved, approve / approved.name)
    with Image.open(refused) as im:
        im.rotate(180).save(approve / refused.name, "JPEG")   # edited: not the preview
    res = box.run_once()
    assert res.returncode != 0, res.stderr[-3000:]   # the refused approval failed
    return ApprovedBox(box, approved, refused)
