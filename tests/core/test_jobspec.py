"""The job spec and render report contracts: typed, versioned, read back from any stored form."""

import json

import pytest

from deepart_batch.core.jobspec import SCHEMA, UNDECIDED, JobSpec, StyleRef
from deepart_batch.core.params import RenderParams
from deepart_batch.errors import ParamsError
from deepart_batch.pool import PoolJob
from deepart_batch.report import FileRef, JobInfo, RenderReport

# What the planner stored in the journal before JobSpec (schema 1).
V1 = {"content": "/state/work/abc.jpg", "input": "city/photo.jpg",
      "styles": [{"name": "starry", "path": "/styles/starry.jpg", "weight": 0.7,
                  "sha256": "a" * 64}],
      "params": {"size": 64, "steps": 4, "look_size": 1024}, "output_format": "JPEG",
      "quality": 90, "max_input_pixels": 1000, "content_size": [128, 96],
      "style_key": "a" * 16}


def _spec(**kw) -> JobSpec:
    base = dict(content="/w/x.jpg", input="a/x.jpg", output_format="PNG",
                styles=(StyleRef("starry", "/s/starry.jpg", 1.0, "b" * 64),),
                params=RenderParams(size=64), content_size=(128, 96), content_sha256="c" * 64,
                look_size=None, style_key="b" * 16)
    return JobSpec(**{**base, **kw})


def test_a_spec_survives_the_journal_as_json():
    spec = _spec()
    stored = json.loads(json.dumps(spec.to_dict()))
    assert stored["schema"] == SCHEMA and stored["styles"][0]["sha256"] == "b" * 64
    assert JobSpec.from_dict(stored) == spec


def test_a_schema_1_spec_still_reads_and_its_look_is_left_to_the_engine():
    spec = JobSpec.from_dict(V1)
    assert spec.schema == 1 and spec.input == "city/photo.jpg"
    assert spec.styles == (StyleRef("starry", "/styles/starry.jpg", 0.7, "a" * 64),)
    assert spec.content_size == (128, 96) and spec.photo_long_side == 128
    assert spec.look_size == UNDECIDED and not spec.look_decided
    assert spec.content_sha256 == ""          # so the pipeline hashes the photo itself
    assert spec.params == RenderParams(size=64, steps=4, look_size=1024)
    again = spec.to_dict()
    old_keys = [k for k in V1 if k != "params"]
    assert {k: again[k] for k in old_keys} == {k: V1[k] for k in old_keys}  # same shape
    assert again["params"].items() >= V1["params"].items()   # the defaults filled in


def test_the_params_are_typed_and_survive_the_journal():
    spec = _spec(params=RenderParams(size=96, scales=(0.5, 1.0), style_layers=("relu1_1",)))
    assert isinstance(spec.params, RenderParams)
    stored = json.loads(json.dumps(spec.to_dict()))
    assert stored["params"]["scales"] == [0.5, 1.0]
    assert JobSpec.from_dict(stored).params == spec.params


def test_a_stored_spec_with_a_parameter_this_version_lacks_does_not_decode():
    stored = _spec().to_dict()
    stored["params"]["brush_size"] = 3
    with pytest.raises(ParamsError, match="brush_size"):
        JobSpec.from_dict(stored)


def test_unknown_keys_of_a_newer_spec_are_kept():
    d = {**_spec().to_dict(), "future": {"x": 1}}
    assert JobSpec.from_dict(d).to_dict()["future"] == {"x": 1}


def test_pool_jobs_restore_the_stored_dict():
    job = PoolJob(1, 1, _spec().to_dict())
    assert isinstance(job.spec, JobSpec) and job.spec.styles[0].name == "starry"
    assert PoolJob(1, 1, _spec()).spec == _spec()


def test_a_spec_with_other_files_keeps_its_hashes():
    moved = _spec().with_files("/tmp/photo.jpg", ["/tmp/style0.jpg"])
    assert moved.content == "/tmp/photo.jpg" and moved.styles[0].path == "/tmp/style0.jpg"
    assert moved.styles[0].sha256 == "b" * 64 and moved.input == "a/x.jpg"


def _report() -> RenderReport:
    return RenderReport(status="done", input=FileRef("/w/x.jpg", "c" * 64),
                        styles=[FileRef("/tmp/s.jpg", "b" * 64, "starry", 1.0)],
                        params={"size": 64, "steps": 4}, weights={"id": "w"}, device="cpu",
                        seed=0, timings={"started": "t0", "render_seconds": 1.0},
                        versions={"torch": "2"})


def test_the_daemon_adds_typed_job_fields_and_a_render_command_adds_none():
    assert _report().to_dict()["job"] == {}
    report = _report()
    report.job = JobInfo(id=7, attempt=1, worker="cpu#0", node="box")
    report.rename_files("/w/x.jpg", ["/styles/starry.jpg"])
    report.published(JobInfo(id=7, attempt=2, input="a/x.jpg", campaign="a", slug="starry"),
                     photo="a/x.jpg", output_path="/out/a/x.starry.png",
                     timings={"queued": "tq", "started": "ts", "finished": "tf"})
    d = report.to_dict()
    assert d["job"] == {"id": 7, "attempt": 2, "worker": "cpu#0", "node": "box",
                        "input": "a/x.jpg", "campaign": "a", "slug": "starry"}
    assert d["input"]["path"] == "a/x.jpg" and d["styles"][0]["path"] == "/styles/starry.jpg"
    assert d["output"] == {"path": "/out/a/x.starry.png"}
    assert d["timings"]["started"] == "ts" and d["timings"]["render_seconds"] == 1.0
    assert "x.jpg restyled with starry" in d["summary"]


def test_a_written_report_copied_under_another_name():
    written = json.loads(json.dumps(_report().to_dict()))
    copy = RenderReport.from_dict(written)
    copy.copied("/out/a/x.starry.png", "/out/b/x.starry.png")
    d = copy.to_dict()
    assert d["job"] == {"copied_from": "/out/a/x.starry.png"}
    assert d["output"]["path"] == "/out/b/x.starry.png"
    assert {k: v for k, v in d.items() if k not in ("job", "output")} == \
        {k: v for k, v in written.items() if k not in ("job", "output")}


def test_a_spec_with_a_mask_carries_its_regions_to_the_render_request():
    from deepart_batch.core.regions import RegionSpec
    from deepart_batch.pipeline import RenderRequest
    regions = (RegionSpec((255, 0, 0), styles={"scream": 1.0},
                          overrides={"style_weight": 2e6}), RegionSpec((0, 0, 0), keep=True))
    spec = _spec(mask="/w/x.mask.png", mask_sha256="d" * 64, regions=regions)
    stored = json.loads(json.dumps(spec.to_dict()))
    assert stored["regions"][0]["name"] == "#ff0000"
    assert JobSpec.from_dict(stored) == spec
    req = RenderRequest.from_spec(JobSpec.from_dict(stored))
    assert req.mask == "/w/x.mask.png" and req.regions == regions
    assert RenderRequest.from_spec(_spec()).mask is None
