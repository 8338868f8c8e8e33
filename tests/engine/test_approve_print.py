"""Approve to print, the engine part: a print made from an approved preview's own
pixels and report runs only the detail stages above the preview's size, and keeps its look."""

import json

import pytest
import torch

from deepart_batch import images
from deepart_batch.approved_preview import ApprovalProblem, read_approval, stamp
from deepart_batch.engine import RenderParams
from deepart_batch.engine.evaluate import CONTENT_LAYER, STYLE_LAYERS, LookEvaluator
from deepart_batch.pipeline import RenderRequest, StyleFile, print_request, render_request

from conftest import DATA

PREVIEW, PRINT = 64, 128


def _publish(image, report, path):
    """What the daemon's outbox writes: the image, then its report with the image's hash."""
    path.write_bytes(images.encode_image(image, "PNG"))
    d = report.to_dict()
    d["output"]["path"] = str(path)
    stamp(d, path.read_bytes())
    report_path = path.with_suffix(".json")
    report_path.write_text(json.dumps(d))
    return report_path


@pytest.fixture(scope="module")
def preview(engine, weights, tmp_path_factory):
    folder = tmp_path_factory.mktemp("approve")
    req = RenderRequest(content=str(DATA / "tubingen.jpg"),
                        styles=[StyleFile(str(DATA / "starry_night.jpg"), name="starry")],
                        params=RenderParams(size=PREVIEW, steps=12, seed=3))
    image, report = render_request(engine, weights, req)
    path = folder / "tubingen.starry.png"
    return path, _publish(image, report, path)


@pytest.mark.numeric
def test_print_from_an_approved_preview_runs_only_the_detail_stages(engine, weights, preview,
                                                                    photo, painting):
    path, report_path = preview
    approval = read_approval(path, report_path)
    assert approval.long_side == PREVIEW and approval.seed == 3
    image, report = render_request(engine, weights, print_request(approval, PRINT, str(path)))
    d = report.to_dict()
    assert max(image.size) == PRINT
    scales = d["timings"]["scales"]
    assert scales and all(s["size"] > PREVIEW for s in scales)       # nothing at the look size
    assert [s["size"] for s in scales] == [PRINT]
    assert d["timings"]["evaluations"] == sum(s["evaluations"] for s in scales) == 3
    assert d["output"]["look_size"] == PREVIEW
    assert d["params"]["seed"] == 3 and d["params"]["size"] == PRINT
    assert d["output"]["approved_from"]["sha256"] == approval.sha256
    assert d["output"]["approved_from"]["preview"] == str(path)
    # its look, taken down to the preview's size, is the preview's (within 1.1x)
    enc = engine.encoder(STYLE_LAYERS + (CONTENT_LAYER,))
    judge = LookEvaluator(enc, painting, photo, size=PREVIEW)
    before = judge.score(images.to_tensor(images.load_image(path)))
    after = judge.score(images.to_tensor(image))
    assert after.style <= 1.1 * before.style, (after, before)
    assert after.content <= 1.1 * before.content, (after, before)


@pytest.mark.numeric
def test_a_print_continues_from_the_approved_preview_pixels_bit_for_bit(engine, weights,
                                                                       preview, monkeypatch):
    """The product's promise: an approved print's look result is the approved preview's
    own pixels, exactly as decoded from the file the team approved (no re-render, so no
    rounding of any CPU can change them)."""
    from deepart_batch.engine import print_from_preview
    path, report_path = preview
    real, handed = print_from_preview.start_from, []

    def recording(*args, **kwargs):
        start, stages = real(*args, **kwargs)
        handed.append(start.clone())
        return start, stages
    monkeypatch.setattr(print_from_preview, "start_from", recording)
    render_request(engine, weights, print_request(read_approval(path, report_path), PRINT,
                                                  str(path)))
    approved = images.to_tensor(images.load_image(path))
    assert len(handed) == 1 and torch.equal(handed[0], approved)


def test_an_approval_of_a_changed_preview_or_without_its_report_is_refused(preview, tmp_path):
    path, report_path = preview
    changed = tmp_path / path.name
    changed.write_bytes(path.read_bytes() + b"edited")
    with pytest.raises(ApprovalProblem) as err:
        read_approval(changed, report_path)
    assert err.value.reason == "preview_changed" and path.name in str(err.value)
    with pytest.raises(ApprovalProblem) as err:
        read_approval(path, tmp_path / "nowhere.json")
    assert err.value.reason == "report_missing" and "missing" in str(err.value)
