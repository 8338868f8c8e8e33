"""The job key with a mask: a render without a mask keeps the key it always had (so the
journal's duplicates still match); the mask's sha256 and the regions change it."""

from __future__ import annotations

import hashlib
import json

from deepart_batch.core.jobspec import StyleRef
from deepart_batch.core.regions import RegionSpec
from deepart_batch.daemon.schedule.planner import job_key

STYLES = [StyleRef("starry", "/styles/starry.jpg", 1.0, "s" * 64)]
PARAMS = {"size": 64, "steps": 4}


def test_without_a_mask_the_key_is_the_one_renders_always_had():
    before_masks = hashlib.sha256(json.dumps(
        {"input": "p" * 64, "weights": "w", "params": PARAMS,
         "styles": sorted((s.sha256, s.weight) for s in STYLES)},
        sort_keys=True).encode()).hexdigest()
    assert job_key("p" * 64, STYLES, PARAMS, "w") == before_masks


def test_the_mask_and_its_regions_are_part_of_the_key():
    plain = job_key("p" * 64, STYLES, PARAMS, "w")
    keep = (RegionSpec((0, 0, 0), keep=True),)
    one = job_key("p" * 64, STYLES, PARAMS, "w", "a" * 64, keep)
    assert one != plain
    assert job_key("p" * 64, STYLES, PARAMS, "w", "b" * 64, keep) != one     # mask changed
    painted = (RegionSpec((0, 0, 0), styles={"starry": 1.0}),)
    assert job_key("p" * 64, STYLES, PARAMS, "w", "a" * 64, painted) != one  # regions changed
    assert job_key("p" * 64, STYLES, PARAMS, "w", "a" * 64, keep) == one
