"""A mask is checked where it comes in and claimed as a content-addressed copy in
state_dir/masks/: a link, an oversized file or a non-image is recorded as a refused mask
(named for the team, never the copy's server path), and a rescan that finds the same file
neither reads nor copies it again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

from PIL import Image

from deepart_batch.core.hashing import sha256_file
from deepart_batch.core.layout import StateLayout
from deepart_batch.daemon.sources import mask_folder
from deepart_batch.daemon.sources.mask_folder import MaskSource
from deepart_batch.daemon.sources.mask_index import MaskIndex
from deepart_batch.daemon.sources.protocol import SourceContext
from deepart_batch.journal import Journal
from deepart_batch.settings.config import load_config
from support.boxes import Box


def _source(tmp_path, **overrides) -> MaskSource:
    box = Box(tmp_path, **overrides)
    (tmp_path / "masks").mkdir()
    layout = StateLayout(tmp_path / "state")
    layout.root.mkdir()
    context = SourceContext(config=load_config(box.config),
                            journal=Journal(layout.journal), layout=layout, outcomes=None,
                            holding=None, manifests=SimpleNamespace(current=None), events=None,
                            weights_id={}, once=True, plan=None, masks=MaskIndex(layout.masks),
                            plan_again=None)
    return MaskSource(context)


def test_a_mask_is_claimed_as_a_copy_named_by_its_sha256(tmp_path):
    source = _source(tmp_path)
    path = tmp_path / "masks/spring/shoe.png"
    path.parent.mkdir()
    Image.new("L", (8, 6), 255).save(path)
    source.take(path)
    mask = source.index.for_photo("spring/shoe.jpg")
    assert (mask.relpath, mask.problem, mask.sha256) == ("spring/shoe.png", "",
                                                          sha256_file(path))
    assert Path(mask.copy) == tmp_path / "state/masks" / f"{mask.sha256}.png"
    assert Path(mask.copy).read_bytes() == path.read_bytes()
    assert path.is_file()                                  # the team's file stays


def test_a_rescan_of_the_same_file_copies_nothing(tmp_path, monkeypatch):
    source = _source(tmp_path)
    path = tmp_path / "masks/shoe.png"
    Image.new("L", (8, 6), 255).save(path)
    copies = []
    real_copy = shutil.copyfile
    monkeypatch.setattr(mask_folder.shutil, "copyfile",
                        lambda *a, **k: copies.append(a[0]) or real_copy(*a, **k))
    source.take(path)
    source.take(path)
    assert len(copies) == 1
    Image.new("L", (8, 6), 0).save(path)                   # changed: taken again
    os.utime(path, ns=(1, 10**18))
    source.take(path)
    assert len(copies) == 2
    assert source.index.for_photo("shoe.jpg").sha256 == sha256_file(path)


def test_links_large_files_and_non_images_are_refused_masks_named_for_the_team(tmp_path):
    source = _source(tmp_path, limits={"max_file_bytes": 2000})
    masks = tmp_path / "masks"
    Image.new("L", (8, 6), 255).save(tmp_path / "elsewhere.png")
    (masks / "link.png").symlink_to(tmp_path / "elsewhere.png")
    (masks / "big.png").write_bytes(os.urandom(4000))
    (masks / "text.png").write_text("not a picture")
    for name in ("link", "big", "text"):
        source.take(masks / f"{name}.png")
    problems = {n: source.index.for_photo(f"{n}.jpg").problem for n in ("link", "big", "text")}
    assert "masks/link.png is a link" in problems["link"]
    assert "over the" in problems["big"] and "MB limit" in problems["big"]
    assert problems["text"].startswith("masks/text.png: ")
    assert "grayscale or palette" in problems["text"]
    assert all(str(tmp_path) not in p for p in problems.values())
