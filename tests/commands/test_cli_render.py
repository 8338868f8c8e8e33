import json

import pytest
import torch
from PIL import Image

from deepart_batch.engine.precision import device_precision

from conftest import DATA, run_cli


def test_render_end_to_end(tmp_path):
    out = tmp_path / "sub" / "out.png"
    res = run_cli("render", DATA / "tubingen.jpg", DATA / "starry_night.jpg", DATA / "the_scream.jpg",
                  "--blend", "0.7", "0.3", "-o", out, "--size", "64", "--steps", "12",
                  "--log-every", "4", "--seed", "3")
    assert res.returncode == 0, res.stderr
    assert Image.open(out).size == (64, 48)
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["status"] == "done" and report["schema"] == "deepart-batch/report/v1"
    assert report["params"]["size"] == 64 and report["params"]["seed"] == 3
    assert report["weights"]["source"] == "bundled" and len(report["weights"]["sha256"]) == 64
    assert [s["weight"] for s in report["styles"]] == [0.7, 0.3]
    assert [t["step"] for t in report["trace"]] == [4, 8, 12]
    assert report["trace"][-1]["total"] < report["trace"][0]["total"]
    assert report["timings"]["evaluations"] == 12
    assert report["precision"] == device_precision("auto", torch.device("cpu"))
    assert report["memory"]["peak_bytes"] > 0 and report["memory"]["estimate_bytes"] > 0
    assert sum(s["evaluations"] for s in report["timings"]["scales"]) == 12
    assert "step 12/12" in res.stderr  # plain progress lines when not on a terminal
    assert not list(out.parent.glob(".*part"))


def test_render_says_why_the_loss_rises_at_each_new_scale(tmp_path):
    """Coarse to fine, the loss is summed over more pixels at each scale: one line says so
    where it jumps, before the first step logged at the new size."""
    out = tmp_path / "out.jpg"
    res = run_cli("render", DATA / "tubingen.jpg", DATA / "starry_night.jpg", "-o", out,
                  "--size", "128", "--steps", "12", "--log-every", "1", "--scales", "0.5,1")
    assert res.returncode == 0, res.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    sizes = [s["size"] for s in report["timings"]["scales"]]
    assert len(sizes) > 1, sizes
    lines = res.stderr.splitlines()
    said = [i for i, line in enumerate(lines) if "the loss is measured on the larger image"
            in line]
    assert len(said) == len(sizes) - 1, res.stderr
    for i, (before, after) in zip(said, zip(sizes, sizes[1:])):
        assert f"now at {after} px (was {before} px)" in lines[i], lines[i]
        assert "/12 loss" in lines[i + 1]   # then the first step at the new size


def _assert_clean_error(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("deepart-batch: error:")
    for needle in needles:
        assert needle in last, last


def test_bad_inputs_exit_2_with_one_clear_line(tmp_path):
    style = DATA / "starry_night.jpg"
    out = tmp_path / "o.png"
    _assert_clean_error(run_cli("render", tmp_path / "missing.jpg", style, "-o", out),
                        "missing.jpg", "not found")
    notes = tmp_path / "notes.jpg"
    notes.write_text("hello")
    _assert_clean_error(run_cli("render", notes, style, "-o", out), "notes.jpg", "damaged or incomplete")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes((DATA / "tubingen.jpg").read_bytes()[:900])
    _assert_clean_error(run_cli("render", cut, style, "-o", out, "--size", "32", "--steps", "1"),
                        "cut.jpg", "truncated")
    bomb = tmp_path / "bomb.png"
    Image.new("L", (4000, 3000)).save(bomb)
    _assert_clean_error(run_cli("render", bomb, style, "-o", out, "--max-pixels", "1000000"),
                        "bomb.png", "12.0 MP")
    _assert_clean_error(run_cli("render", DATA / "tubingen.jpg", style, "-o", out,
                                "--style-layers", "relu1_1,relu7_1"), "relu7_1")
    _assert_clean_error(run_cli("render", DATA / "tubingen.jpg", style, "-o", out,
                                "--tv-weight", "-2"), "tv_weight", ">= 0")
    _assert_clean_error(run_cli("render", DATA / "tubingen.jpg", style, "-o", tmp_path / "o.gif"),
                        "o.gif", ".png")
    assert not out.exists()


def test_missing_torchvision_weights_offline_is_clear(tmp_path):
    res = run_cli("render", DATA / "tubingen.jpg", DATA / "starry_night.jpg", "-o", tmp_path / "o.png",
                  "--weights", "torchvision", env={"TORCH_HOME": str(tmp_path / "th"),
                                                   "HTTPS_PROXY": "http://127.0.0.1:9",
                                                   "https_proxy": "http://127.0.0.1:9"})
    _assert_clean_error(res, "--weights bundled")


def test_help_is_complete():
    res = run_cli("render", "--help")
    assert res.returncode == 0
    for flag in ("--size", "--steps", "--style-weight", "--content-weight", "--tv-weight",
                 "--optimizer", "--init", "--preserve-color", "--seed", "--weights",
                 "--style-layers", "--content-layers", "--blend", "--style-scale"):
        assert flag in res.stdout
