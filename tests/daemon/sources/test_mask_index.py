"""The masks the daemon knows, by the photo they belong to: kept on disk so that a restart
knows them before the masks folder is scanned again; two masks for one photo are one
refused mask; a claimed copy removed by hand makes that mask unknown (it is read again)."""

from __future__ import annotations

from deepart_batch.core.layout import photo_stem
from deepart_batch.daemon.sources.mask_index import INDEX_FILE, MaskEntry, MaskIndex


def _copy(folder, name: str, data: bytes = b"png") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return str(folder / name)


def test_a_mask_pairs_with_its_photo_by_folder_and_name_whatever_the_extensions():
    assert photo_stem("spring/shoe.jpg") == photo_stem("spring/shoe.png") == "spring/shoe"
    assert photo_stem("shoe.jpeg") == "shoe"
    index = MaskIndex()
    entry = MaskEntry("spring/shoe.png", "/state/masks/ab.png", "ab" * 32)
    assert index.put(entry) is None
    assert index.for_photo("spring/shoe.jpg") == entry
    assert index.for_photo("summer/shoe.jpg") is None
    assert index.for_photo("spring/shoe2.jpg") is None


def test_the_index_survives_a_restart_and_forgets_copies_removed_by_hand(tmp_path):
    folder = tmp_path / "masks"
    kept = MaskEntry("a/one.png", _copy(folder, "1.png"), "1" * 64)
    gone = MaskEntry("a/two.png", _copy(folder, "2.png"), "2" * 64)
    refused = MaskEntry("a/three.png", problem="not an image")
    index = MaskIndex(folder)
    for entry in (kept, gone, refused):
        index.put(entry)
    (folder / "2.png").unlink()
    again = MaskIndex(folder)
    assert sorted(e.relpath for e in again.entries()) == ["a/one.png", "a/three.png"]
    assert again.for_photo("a/one.jpg") == kept
    assert again.for_photo("a/three.jpg").problem == "not an image"
    again.remove("a/one.png")
    assert MaskIndex(folder).for_photo("a/one.jpg") is None


def test_two_masks_for_one_photo_are_refused_naming_both(tmp_path):
    index = MaskIndex()
    index.put(MaskEntry("shoe.png", "/m/1.png", "1" * 64))
    index.put(MaskEntry("shoe.jpg", "/m/2.jpg", "2" * 64))
    mask = index.for_photo("shoe.tif")
    assert mask.problem == "there are 2 masks for it (shoe.jpg, shoe.png); keep one"
    assert not mask.copy


def test_a_damaged_index_file_is_read_as_empty(tmp_path):
    folder = tmp_path / "masks"
    folder.mkdir()
    (folder / INDEX_FILE).write_text("{not json")
    assert MaskIndex(folder).entries() == []
