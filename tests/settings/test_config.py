"""Config loading: every problem reported with file, key path and what is allowed."""

from dataclasses import fields
from pathlib import Path

import pytest

from deepart_batch.settings.config import (DEFAULT_IGNORE, INPUT_FORMATS, check_params,
                                           load_config)
from deepart_batch.settings.config_check import check_config
from deepart_batch.core.params import RenderParams
from deepart_batch.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
inbox: in
outbox: out
state_dir: state
styles_dir: styles
manifest: manifest.yaml
"""


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def errors_of(path):
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == "\n".join(info.value.errors)
    return info.value.errors


def one_error(tmp_path, extra):
    errs = errors_of(write(tmp_path, BASE + extra))
    assert len(errs) == 1, errs
    return errs[0]


def test_example_config_loads_and_documents_every_key():
    config = load_config(ROOT / "config.example.yaml")
    assert config.inbox == Path("/srv/deepart/inbox")
    assert config.manifest == Path("/srv/deepart/inbox/manifest.yaml")
    assert config.devices == "auto" and config.on_oom == "smaller"
    assert config.limits.max_file_bytes == 200_000_000
    assert config.metrics.http_port == 9464
    assert config.render_params().size == config.defaults["size"]
    text = (ROOT / "config.example.yaml").read_text()
    for section in ("", "limits.", "watch.", "output.", "logging.", "metrics."):
        obj = config if not section else getattr(config, section[:-1])
        for f in fields(obj):
            if "parse" in f.metadata and not hasattr(getattr(obj, f.name),
                                                     "__dataclass_fields__"):
                assert f"{f.name}:" in text, f"config.example.yaml lacks {section}{f.name}"


def test_demo_config_validates_with_real_dirs():
    config, problems = check_config(ROOT / "examples/demo/config.yaml")
    assert problems == []
    assert config.styles_dir == (ROOT / "examples/styles").resolve()
    assert config.manifest == (ROOT / "examples/demo/manifest.yaml").resolve()
    assert config.inbox == (ROOT / "demo-run/inbox").resolve()
    assert config.render_params().size == 256


def test_minimal_config_gets_documented_defaults(tmp_path):
    config = load_config(write(tmp_path, BASE))
    assert (config.weights, config.devices, config.jobs_per_device) == ("bundled", "auto", 1)
    assert (config.job_timeout, config.max_attempts, config.drain_seconds) == (3600, 3, 300)
    assert config.limits.max_size == 2048 and config.limits.max_steps == 2000
    assert config.limits.max_input_pixels == 50_000_000
    assert config.limits.formats == ["jpeg", "png", "webp", "tiff"]
    assert config.watch.polling == "auto" and config.watch.ignore == list(DEFAULT_IGNORE)
    assert (config.watch.settle_seconds, config.watch.rescan_seconds,
            config.watch.poll_interval) == (5, 60, 2)
    assert config.output.name_template == "{stem}.{style}.{ext}"
    assert (config.output.format, config.output.quality) == ("jpg", 92)
    assert (config.logging.level, config.logging.rotation, config.logging.retention) == (
        "INFO", "50 MB", 5)
    assert config.logging.json_file is None and config.metrics.http_port is None
    assert config.metrics.http_host == "127.0.0.1" and config.metrics.interval_seconds == 15
    assert config.defaults == {} and config.render_params() == RenderParams().validated()


def test_relative_paths_resolve_against_config_folder(tmp_path, monkeypatch):
    sub = tmp_path / "etc"
    sub.mkdir()
    path = write(sub, BASE + "weights: w/vgg.pth\nlogging: {json_file: ../log/d.jsonl}\n")
    monkeypatch.chdir(tmp_path.parent)  # the working directory must not matter
    config = load_config(path)
    assert config.source == path
    assert config.inbox == sub / "in" and config.state_dir == sub / "state"
    assert config.manifest == sub / "manifest.yaml"
    assert config.weights == str(sub / "w/vgg.pth")
    assert config.logging.json_file == tmp_path / "log/d.jsonl"
    absolute = load_config(write(tmp_path, BASE.replace("inbox: in", "inbox: /mnt/share/in")))
    assert absolute.inbox == Path("/mnt/share/in")


def test_error_names_file_key_and_allowed_values(tmp_path):
    err = one_error(tmp_path, "watch: {polling: sometimes}\n")
    assert err == ("%s: watch.polling: 'sometimes' is not allowed; use auto, always or never"
                   % (tmp_path / "config.yaml"))


@pytest.mark.parametrize("extra, key, allowed", [
    ("devices: [cuda:0, gpu1]", "devices", "cpu, cuda or cuda:N"),
    ("devices: []", "devices", "auto or a list"),
    ("jobs_per_device: 0", "jobs_per_device", "an integer >= 1"),
    ("job_timeout: -5", "job_timeout", "> 0"),
    ("max_attempts: two", "max_attempts", "an integer >= 1"),
    ("on_oom: retry", "on_oom", "smaller, cpu or fail"),
    ("weights: 3", "weights", "bundled, torchvision or the path"),
    ("limits: {max_size: 8}", "limits.max_size", "an integer >= 16"),
    ("limits: {formats: [jpeg, heic]}", "limits.formats", "jpeg, png, webp, tiff, bmp or gif"),
    ("limits: {max_file_bytes: lots}", "limits.max_file_bytes", "'200 MB'"),
    ("watch: {settle_seconds: -1}", "watch.settle_seconds", ">= 0"),
    ("watch: {ignore: '*.part'}", "watch.ignore", "a list of file-name patterns"),
    ("output: {format: gif}", "output.format", "jpg, png or webp"),
    ("output: {quality: 101}", "output.quality", "between 1 and 100"),
    ("output: {name_template: '{stem}.{painter}.{ext}'}", "output.name_template",
     "{stem}, {style}, {ext} or {campaign}"),
    ("output: {name_template: '{stem}.{ext}'}", "output.name_template", "{style}"),
    ("output: {name_template: '../{stem}.{style}.{ext}'}", "output.name_template", "'..'"),
    ("logging: {level: LOUD}", "logging.level", "DEBUG, INFO"),
    ("metrics: {http_port: 70000}", "metrics.http_port", "between 0 and 65535"),
    ("metrics: {interval_seconds: 0}", "metrics.interval_seconds", "> 0"),
    ("limits: [1, 2]", "limits", "expected a mapping"),
])
def test_each_bad_value_is_reported_with_key_and_allowed(tmp_path, extra, key, allowed):
    err = one_error(tmp_path, extra + "\n")
    assert err.startswith(f"{tmp_path / 'config.yaml'}: {key}: "), err
    assert allowed in err


def test_unknown_keys_are_errors_with_suggestion(tmp_path):
    errs = errors_of(write(tmp_path, BASE + "job_timout: 10\nlimits: {max_sise: 100}\n"
                                            "defaults: {stpes: 10}\n"))
    assert len(errs) == 3, errs
    assert "job_timout: unknown key (did you mean job_timeout?)" in errs[0]
    assert "limits.max_sise: unknown key (did you mean max_size?)" in errs[1]
    assert "allowed: max_size, max_steps" in errs[1]
    assert "defaults.stpes: unknown render parameter (did you mean steps?)" in errs[2]


def test_all_problems_reported_at_once_including_missing_required(tmp_path):
    errs = errors_of(write(tmp_path, "inbox: in\noutbox: out\non_oom: maybe\n"
                                     "output: {quality: 0}\n"))
    keys = [e.split(": ")[1] for e in errs]
    assert keys == ["state_dir", "styles_dir", "manifest", "on_oom", "output.quality"]
    assert "is required" in errs[0]


def test_yaml_syntax_error_has_line_number(tmp_path):
    errs = errors_of(write(tmp_path, BASE + "watch:\n  polling: [auto\n"))
    assert len(errs) == 1 and "line " in errs[0] and "invalid YAML" in errs[0]
    dup = errors_of(write(tmp_path, BASE + "inbox: again\n"))
    assert "duplicate key 'inbox'" in dup[0] and "line 6" in dup[0]
    assert "expected a mapping" in errors_of(write(tmp_path, ""))[0]
    assert "file not found" in errors_of(tmp_path / "nope.yaml")[0]


def test_defaults_validated_via_render_params_naming_the_key(tmp_path):
    err = one_error(tmp_path, "defaults: {optimizer: sgd}\n")
    assert ": defaults.optimizer: " in err and "lbfgs, adam" in err
    err = one_error(tmp_path, "defaults: {style_layers: [relu9_9]}\n")
    assert ": defaults.style_layers: " in err and "unknown layer name" in err
    err = one_error(tmp_path, "defaults: {size: big}\n")
    assert ": defaults.size: 'big' is not allowed; use an integer" in err
    err = one_error(tmp_path, "defaults: {size: true}\n")
    assert ": defaults.size: " in err


def test_limit_violation_in_defaults_is_reported(tmp_path):
    err = one_error(tmp_path, "defaults: {size: 4096}\nlimits: {max_size: 2048}\n")
    assert ": defaults.size: 4096 exceeds limits.max_size; use at most 2048" in err
    err = one_error(tmp_path, "defaults: {steps: 900}\nlimits: {max_steps: 500}\n")
    assert ": defaults.steps: 900 exceeds limits.max_steps; use at most 500" in err


def test_render_params_merges_validates_and_enforces_limits(tmp_path):
    config = load_config(write(tmp_path, BASE + "defaults: {size: 300, steps: 50}\n"
                                                "limits: {max_size: 1024, max_steps: 100}\n"))
    params = config.render_params({"steps": 80, "style_layers": ["conv_1", "relu2_1"]})
    assert (params.size, params.steps) == (300, 80)
    assert params.style_layers == ("conv1_1", "relu2_1")  # validated(): canonical names
    with pytest.raises(ConfigError, match=r"size: 2000 exceeds limits.max_size; use at most 1024"):
        config.render_params({"size": 2000})
    with pytest.raises(ConfigError, match=r"steps: 101 exceeds limits.max_steps"):
        config.render_params({"steps": 101})
    with pytest.raises(ConfigError, match=r"render parameter tv_weight: .*>= 0"):
        config.render_params({"tv_weight": -1})
    with pytest.raises(ConfigError, match=r"render parameter colour: unknown"):
        config.render_params({"colour": "x"})


def test_param_keys_come_from_renderparams_fields(monkeypatch):
    """A field the engine adds later is accepted without touching config.py."""
    import dataclasses

    @dataclasses.dataclass
    class Extended(RenderParams):
        precision: str = "fp32"
        scales: tuple = (1.0,)

        def validated(self):  # the base class's builds a plain RenderParams
            return self

    monkeypatch.setattr("deepart_batch.settings.config.RenderParams", Extended)
    params, problems = check_params({"precision": "bf16", "scales": [0.5, 1.0]})
    assert problems == [] and params.precision == "bf16" and params.scales == (0.5, 1.0)
    assert check_params({"precision": 16})[1] == [
        ("precision", "16 is not allowed; use auto, fp32, bf16 or tf32")]


def test_output_or_state_inside_inbox_refused(tmp_path):
    errs = errors_of(write(tmp_path, BASE.replace("outbox: out", "outbox: in/results")))
    assert len(errs) == 1 and ": outbox: " in errs[0] and "inside the inbox" in errs[0]
    errs = errors_of(write(tmp_path, BASE.replace("state_dir: state", "state_dir: in")))
    assert ": state_dir: " in errs[0]


def test_sizes_and_aliases(tmp_path):
    config = load_config(write(tmp_path, BASE + "limits: {max_file_bytes: 1.5 GiB, "
                                                "formats: [JPG, tif, png, jpeg]}\n"
                                                "devices: [cuda:1, cpu]\n"))
    assert config.limits.max_file_bytes == int(1.5 * 2**30)
    assert config.limits.formats == ["jpeg", "tiff", "png"]
    assert config.devices == ["cuda:1", "cpu"]


def test_input_formats_are_ones_the_image_loader_accepts():
    from deepart_batch import images
    assert {f.upper() for f in INPUT_FORMATS} <= set(images.INPUT_FORMATS)


def test_check_config_reports_missing_styles_dir_and_manifest(tmp_path):
    path = write(tmp_path, BASE + "weights: missing.pth\n")
    config, problems = check_config(path)
    assert config is not None and len(problems) == 3
    assert ": styles_dir: " in problems[0] and "not a directory" in problems[0]
    assert ": manifest: " in problems[1] and "does not exist" in problems[1]
    assert ": weights: " in problems[2]
    (tmp_path / "styles").mkdir()
    (tmp_path / "manifest.yaml").write_text("styles: {}\n")
    assert check_config(write(tmp_path, BASE))[1] == []
    assert check_config(write(tmp_path, BASE + "bogus: 1\n"))[0] is None


def test_a_device_listed_twice_gets_two_workers(tmp_path):
    # A config may ask for `devices: [cpu, cpu]`; duplicates are slots, like jobs_per_device.
    config = load_config(write(tmp_path, BASE + "devices: [cpu, cpu]\n"))
    assert config.devices == ["cpu", "cpu"]


def test_jobs_per_device_takes_auto(tmp_path):
    assert load_config(write(tmp_path, BASE + "jobs_per_device: auto\n")).jobs_per_device == "auto"
    assert "auto or an integer >= 1" in one_error(tmp_path, "jobs_per_device: many\n")
