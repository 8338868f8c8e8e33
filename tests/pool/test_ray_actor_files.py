"""A Ray actor shares no folder with the daemon: a job's region mask and a print's approved
preview travel as bytes, like the photo and the paintings; the actor renders from its own copy and the report names the
daemon's mask copy, not the actor's temp file. (The render itself is the pool worker's,
tested with a real worker in tests/scenarios/test_masked_render_daemon.py.)"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from deepart_batch.pool import worker
from deepart_batch.pool.events import RenderDone
from deepart_batch.pool.executor import PoolJob
from deepart_batch.pool.ray_actor import RenderActor
from deepart_batch.report import RenderReport
from support.jobs import toy_spec


def test_the_mask_travels_as_bytes_and_the_report_names_the_daemons_copy(tmp_path,
                                                                         monkeypatch):
    spec = replace(toy_spec("/state/work/1a.jpg", [("starry", "/styles/starry.jpg", 1.0)]),
                   mask="/state/masks/" + "c" * 64 + ".png", mask_sha256="c" * 64)
    seen = {}

    def render_here(state, job, send, fault):
        """What the worker would read: the actor's own files."""
        seen["mask"] = Path(job.spec.mask).read_bytes()
        seen["photo"] = Path(job.spec.content).read_bytes()
        report = RenderReport.from_dict({"regions": {"mask": {"path": job.spec.mask,
                                                              "sha256": "c" * 64}}})
        send(RenderDone("slot", job.job_id, report, b"image", 1.0, ""))

    monkeypatch.setattr(worker, "run_guarded", render_here)
    actor = object.__new__(RenderActor)     # no Ray cluster: the method alone
    actor.state, actor.fault, actor.tmp = None, None, tmp_path
    actor._lock, actor._progress, actor._notices = threading.Lock(), None, []
    done = actor.render(PoolJob(7, 1, spec, "", "", 0), b"photo", b"mask bytes", b"",
                        b"style")
    assert seen == {"mask": b"mask bytes", "photo": b"photo"}
    assert done["report"]["regions"]["mask"]["path"] == spec.mask
    assert not list(tmp_path.iterdir())     # the actor's copies are gone


def test_a_job_without_a_mask_writes_none(tmp_path, monkeypatch):
    spec = toy_spec("/state/work/1a.jpg", [("starry", "/styles/starry.jpg", 1.0)])
    seen = {}

    def render_here(state, job, send, fault):
        seen["mask"] = job.spec.mask
        send(RenderDone("slot", job.job_id, RenderReport.from_dict({}), b"image", 1.0, ""))

    monkeypatch.setattr(worker, "run_guarded", render_here)
    actor = object.__new__(RenderActor)
    actor.state, actor.fault, actor.tmp = None, None, tmp_path
    actor._lock, actor._progress, actor._notices = threading.Lock(), None, []
    actor.render(PoolJob(8, 1, spec, "", "", 0), b"photo", b"", b"", b"style")
    assert seen == {"mask": ""}


def test_a_prints_approved_preview_travels_as_bytes(tmp_path, monkeypatch):
    """A print starts from the approved preview's pixels (JobSpec.init_from, a file in the
    daemon's state_dir): on another node that path does not exist, so its bytes travel."""
    spec = replace(toy_spec("/state/work/1a.jpg", [("starry", "/styles/starry.jpg", 1.0)]),
                   init_from="/state/work/2b.jpg", init_sha256="d" * 64)
    seen = {}

    def render_here(state, job, send, fault):
        seen["init"] = Path(job.spec.init_from).read_bytes()
        seen["inside"] = Path(job.spec.init_from).parent.parent == tmp_path
        send(RenderDone("slot", job.job_id, RenderReport.from_dict({}), b"image", 1.0, ""))

    monkeypatch.setattr(worker, "run_guarded", render_here)
    actor = object.__new__(RenderActor)
    actor.state, actor.fault, actor.tmp = None, None, tmp_path
    actor._lock, actor._progress, actor._notices = threading.Lock(), None, []
    actor.render(PoolJob(9, 1, spec, "", "", 0), b"photo", b"", b"approved pixels", b"style")
    assert seen == {"init": b"approved pixels", "inside": True}
    assert not list(tmp_path.iterdir())
