"""A fourth job source is one module and one registration line: a drop folder beside the
inbox (as an HTTP upload or an S3 bucket would be), registered in compose.SOURCES, has its
file admitted, planned and rendered by `watch` with the canned executor, and archived to
done/; a file of it whose planning fails is that file's problem (the one guard), never a
stopped daemon. The three built-in sources follow the protocol."""

from __future__ import annotations

import time
from pathlib import Path

from deepart_batch.core.hashing import sha256_file
from deepart_batch.core.jobspec import StyleRef
from deepart_batch.core.states import FailureReason
from deepart_batch.daemon import compose
from deepart_batch.daemon.outcomes import publish
from deepart_batch.daemon.schedule import planner
from deepart_batch.daemon.sources import claim
from deepart_batch.daemon.sources.protocol import SourceContext
from deepart_batch import images
from support.boxes import Box, watch_in_process
from support.journal_probe import JournalProbe
from support.manifests import DATA

FOLDER = "_drops"   # the source's inputs are named _drops/<name>; also their campaign


class DropFolderSource:
    """Every file put in <box>/drops/ is one render with starry_night.jpg at the defaults.
    A file named bad*.jpg raises while it is planned (a fault of that file)."""

    name, needs, failure_reason, catch_all = "drops", "outbox", FailureReason.ERROR, False

    def __init__(self, context: SourceContext):
        self.context = context
        self.folder = Path(context.config.inbox).parent / "drops"

    def owns(self, relpath: str) -> bool:
        return relpath.startswith(FOLDER + "/")

    def pending(self) -> int:
        return len(list(self.folder.glob("*.jpg"))) if self.folder.is_dir() else 0

    def startable(self, ready: list, running: list) -> list:
        return ready

    def take_due(self, stopping) -> None:
        journal, layout = self.context.journal, self.context.layout
        for path in sorted(self.folder.glob("*.jpg")) if self.folder.is_dir() else []:
            rel = f"{FOLDER}/{path.name}"
            work = layout.work / claim.work_name(rel, f"{time.time_ns():x}")
            input_id = journal.begin_claim(rel, FOLDER, str(work))
            claim.move_file(path, work)
            journal.finish_claim(input_id, sha256_file(work))
            self.context.plan(self, journal.input(input_id))
            self.context.outcomes.maybe_archive(input_id)

    def plan(self, inp) -> list[int]:
        if Path(inp.relpath).name.startswith("bad"):
            raise RuntimeError("the drop's metadata does not parse")
        config = self.context.config
        painting = Path(config.styles_dir) / "starry_night.jpg"
        style = StyleRef("starry", str(painting), 1.0, sha256_file(painting))
        params = config.render_params()
        spec = planner.make_spec(config, inp.work_path, inp.relpath, [style], params,
                                 images.probe(inp.work_path)[:2], inp.sha256)
        out = publish.output_path(config.outbox, inp.relpath, "starry",
                                  config.output.format.lower(), config.output.name_template)
        report = publish.report_path(out)
        key = planner.job_key(inp.sha256, [style], params.to_dict(), self.context.weights_id)
        return [self.context.journal.add_job(inp.id, key, FOLDER, 0, "starry", spec, str(out),
                                             str(report))]


def _box(tmp_path):
    box = Box(tmp_path, canned=True, watch={"settle_seconds": 0, "rescan_seconds": 2,
                                            "poll_interval": 0.1})
    (tmp_path / "drops").mkdir()
    return box


def test_a_new_source_is_one_module_and_one_registration_line(tmp_path, monkeypatch):
    box = _box(tmp_path)
    monkeypatch.setattr(compose, "SOURCES", (*compose.SOURCES, DropFolderSource))
    (tmp_path / "drops" / "harbour.jpg").write_bytes((DATA / "tubingen.jpg").read_bytes())
    probe = JournalProbe(box)
    watch_in_process(box, lambda: probe.exists() and
                     ("_drops/harbour.jpg", "done") in probe.inputs("relpath", "state"))
    assert [s for (s,) in probe.jobs("state")] == ["done"]
    assert (box.outbox / FOLDER / "harbour.starry.jpg").is_file()
    assert (box.state / "done" / FOLDER / "harbour.jpg").is_file()
    assert not (tmp_path / "drops" / "harbour.jpg").exists()


def test_a_new_source_file_that_fails_to_plan_is_its_problem_and_the_daemon_goes_on(
        tmp_path, monkeypatch):
    box = _box(tmp_path)
    monkeypatch.setattr(compose, "SOURCES", (*compose.SOURCES, DropFolderSource))
    (tmp_path / "drops" / "bad.jpg").write_bytes((DATA / "tubingen.jpg").read_bytes())
    (tmp_path / "drops" / "good.jpg").write_bytes((DATA / "golden_gate.jpg").read_bytes())
    probe = JournalProbe(box)
    watch_in_process(box, lambda: probe.exists() and
                     {("_drops/bad.jpg", "failed"), ("_drops/good.jpg", "done")}
                     <= set(probe.inputs("relpath", "state")))
    note = (box.state / "failed" / FOLDER / "bad.jpg.error.json").read_text()
    assert "RuntimeError" in note and "metadata does not parse" in note


def test_the_built_in_sources_follow_the_protocol():
    for factory in compose.SOURCES:
        assert all(hasattr(factory, name) for name in
                   ("name", "needs", "failure_reason", "catch_all", "owns", "take_due",
                    "pending", "plan", "startable")), factory
    assert [f.catch_all for f in compose.SOURCES].count(True) == 1   # the inbox, asked last
