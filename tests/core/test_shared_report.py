"""A render report read back from the share (core/shared_report.py): what the box writes
parses; any field edited into another type, or added, is refused in one line naming it."""

import copy
import json

import pytest

from deepart_batch.approved_preview import stamp
from deepart_batch.core.shared_report import ReportFieldError, SharedReport, annotation_kinds
from deepart_batch.core.params import RenderParams
from deepart_batch.report import FileRef, RenderReport

PARAMS = annotation_kinds(RenderParams)


def _written() -> dict:
    """A report as the box writes it beside a preview (RenderReport, published, stamped)."""
    report = RenderReport(
        status="done", input=FileRef("spring/photo.jpg", "ab" * 32),
        styles=[FileRef("styles/starry.jpg", "cd" * 32, "starry", 1.0)],
        params=RenderParams(size=64, steps=4).to_dict(), weights={"id": "w"},
        device="cpu", seed=0, versions={"python": "3"},
        output={"width": 64, "height": 48, "look_size": None, "photo_long_side": 512,
                "photo_upsampled": None, "warning": None},
        trace=[{"step": 1, "loss": 2.0}], final={"loss": 1.0})
    report.output["path"] = "/outbox/spring/photo.scream.jpg"
    return json.loads(json.dumps(stamp(report.to_dict(), b"image bytes")))


def test_a_report_as_the_box_writes_it_parses():
    parsed = SharedReport.from_dict(_written(), PARAMS)
    assert parsed.status == "done" and parsed.seed == 0 and parsed.params["size"] == 64
    assert parsed.input.path == "spring/photo.jpg"
    assert [s.name for s in parsed.styles] == ["starry"]
    assert parsed.output.long_side == 64 and parsed.output.sha256


def _set(path: str, value):
    def change(d):
        *parents, last = path.split(".")
        for key in parents:
            d = d[int(key)] if isinstance(d, list) else d[key]
        d[last] = value
    return change


def _drop(key):
    return lambda d: d.pop(key)


WRONG = [
    (_set("seed", None), "seed: expected an integer, got null"),
    (_set("params.seed", None), "params.seed: expected an integer, got null"),
    (_set("params.brush_size", 3), "params.brush_size: not a field of a render report"),
    (_set("params.size", "64"), 'params.size: expected an integer, got "64"'),
    (_set("params.look_size", True), "params.look_size: expected an integer, got true"),
    (_set("params.learning_rate", "fast"),
     'params.learning_rate: expected a number or null, got "fast"'),
    (_set("params.scales", [0.5, "1"]), 'params.scales[1]: expected a number, got "1"'),
    (_set("params.scales", 1.0), "params.scales: expected a list, got 1.0"),
    (_set("params.layer_weights", {"relu1_1": None}),
     "params.layer_weights.relu1_1: expected a number, got null"),
    (_set("output.width", 1.5), "output.width: expected an integer, got 1.5"),
    (_set("output.sha256", 7), "output.sha256: expected a text or null, got 7"),
    (_set("output.colour", "red"), "output.colour: not a field of a render report"),
    (_set("styles.0.weight", "half"), 'styles[0].weight: expected a number or null, got "half"'),
    (_set("styles.0.path", None), "styles[0].path: expected a text, got null"),
    (_set("input", ["a"]), "input: expected an object or null, got a list"),
    (_set("status", 1), "status: expected a text, got 1"),
    (_set("hacked", True), "hacked: not a field of a render report"),
    (_drop("params"), "params: missing"),
]


@pytest.mark.parametrize("change, said", WRONG, ids=[s.split(":")[0] for _, s in WRONG])
def test_each_wrong_field_is_named_in_one_line(change, said):
    report = copy.deepcopy(_written())
    change(report)
    with pytest.raises(ReportFieldError) as caught:
        SharedReport.from_dict(report, PARAMS)
    assert str(caught.value) == said
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("report", [[{"status": "done"}], "done", None, 3])
def test_a_report_that_is_not_an_object_is_refused(report):
    with pytest.raises(ReportFieldError, match="^the report: expected an object, got "):
        SharedReport.from_dict(report, PARAMS)


def test_params_are_checked_only_against_the_fields_given():
    report = _written()
    report["params"]["brush_size"] = 3
    assert SharedReport.from_dict(report).params["brush_size"] == 3   # no params_kinds
