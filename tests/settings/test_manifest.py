"""Manifest parsing, glob matching, style containment and live reloading."""

import json
import os
import shutil
from pathlib import Path

import pytest

from deepart_batch.settings.config import load_config
from deepart_batch.errors import ConfigError
from deepart_batch.settings.manifest import (ManifestStore, check_manifest, error_file_for,
                                    glob_to_regex, load_manifest)
from support.boxes import write_config

DATA = Path(__file__).resolve().parents[1] / "data"

GOOD = """\
styles:
  starry: {image: starry_night.jpg}
  scream: {image: the_scream.jpg, style_scale: 0.8}
rules:
  - match: "spring-campaign/**"
    priority: 10
    outputs:
      - {styles: [starry]}
      - {styles: {starry: 0.7, scream: 0.3}, preserve_color: luminance, size: 1024}
  - match: "**"
    outputs: [{style: scream}]
"""


@pytest.fixture
def env(tmp_path):
    styles = tmp_path / "styles"
    styles.mkdir()
    for name in ("starry_night.jpg", "the_scream.jpg"):
        shutil.copy(DATA / name, styles / name)
    write_config(tmp_path / "config.yaml", {
        "inbox": "inbox", "outbox": "outbox", "state_dir": "state", "styles_dir": "styles",
        "manifest": "inbox/manifest.yaml", "defaults": {"size": 512, "steps": 100},
        "limits": {"max_size": 1536, "max_steps": 400}})
    (tmp_path / "inbox").mkdir()
    config = load_config(tmp_path / "config.yaml")
    return config


def write(config, text):
    config.manifest.write_text(text)
    return config.manifest


def problems(config, text):
    return check_manifest(write(config, text), config.styles_dir, config)


def one_problem(config, text):
    found = problems(config, text)
    assert len(found) == 1, found
    assert found[0].startswith(f"{config.manifest}: "), found[0]
    return found[0][len(f"{config.manifest}: "):]


def test_valid_manifest_blends_slugs_and_params(env):
    m = load_manifest(write(env, GOOD), env.styles_dir, env)
    assert m.source == env.manifest and set(m.styles) == {"starry", "scream"}
    assert m.styles["scream"].image == (env.styles_dir / "the_scream.jpg").resolve()
    assert len(m.styles["starry"].sha256) == 64
    spring, catch_all = m.rules
    assert (spring.priority, catch_all.priority) == (10, 0)
    single, blend = spring.outputs
    assert (single.styles, single.slug, single.params) == ({"starry": 1.0}, "starry", {})
    assert blend.styles == pytest.approx({"starry": 0.7, "scream": 0.3})
    assert blend.slug == "starry-70_scream-30"
    # per-style params (in order) under output overrides; config defaults stay in config
    assert blend.params == {"style_scale": 0.8, "preserve_color": "luminance", "size": 1024}
    final = env.render_params(blend.params)
    assert (final.size, final.steps, final.style_scale) == (1024, 100, 0.8)
    assert catch_all.outputs[0].slug == "scream"


def test_equal_blend_explicit_name_and_zero_weights(env):
    m = load_manifest(write(env, """\
styles: {a: {image: starry_night.jpg}, b: {image: the_scream.jpg}}
rules:
  - match: "**"
    outputs:
      - {styles: [a, b]}
      - {styles: {a: 2, b: 6}, name: mostly-b}
      - {styles: {a: 1, b: 0}, steps: 50}
"""), env.styles_dir, env)
    eq, named, dropped = m.rules[0].outputs
    assert (eq.styles, eq.slug) == ({"a": 0.5, "b": 0.5}, "a-50_b-50")
    assert (named.styles, named.slug) == ({"a": 0.25, "b": 0.75}, "mostly-b")
    assert (dropped.styles, dropped.slug) == ({"a": 1.0}, "a")


def test_first_match_wins_in_file_order_priority_only_orders_jobs(env):
    m = load_manifest(write(env, """\
styles: {s: {image: starry_night.jpg}}
rules:
  - {match: "**/*.png", outputs: [{style: s, name: png}]}
  - {match: "vip/**", priority: 99, outputs: [{style: s, name: vip}]}
  - {match: "**", outputs: [{style: s, name: rest}]}
"""), env.styles_dir, env)
    assert m.match("vip/a.png").outputs[0].slug == "png"
    assert m.match("vip/a.jpg").outputs[0].slug == "vip"
    assert m.match("vip/a.jpg").priority == 99
    assert m.match(Path("other/b.jpg")).outputs[0].slug == "rest"
    no_catch_all = load_manifest(write(env, "styles: {s: {image: starry_night.jpg}}\n"
                                            "rules: [{match: 'a/*', outputs: [{style: s}]}]\n"),
                                 env.styles_dir, env)
    assert no_catch_all.match("b/x.jpg") is None


@pytest.mark.parametrize("pattern, path, hit", [
    ("a/**", "a/x.jpg", True),
    ("a/**", "a/b/x.jpg", True),
    ("a/**", "b/a/x.jpg", False),
    ("**/*.png", "x.png", True),
    ("**/*.png", "a/b/x.png", True),
    ("**/*.png", "x.jpg", False),
    ("**", "x.jpg", True),
    ("**", "a/b/c.jpg", True),
    ("*.jpg", "x.jpg", True),
    ("*.jpg", "a/x.jpg", False),          # '*' does not cross '/'
    ("a/*/x.jpg", "a/b/x.jpg", True),
    ("a/*/x.jpg", "a/b/c/x.jpg", False),
    ("a/**/x.jpg", "a/x.jpg", True),       # '**' matches no segment too
    ("a/**/x.jpg", "a/b/c/x.jpg", True),
    ("img?.jpg", "img1.jpg", True),
    ("img?.jpg", "img12.jpg", False),
    ("a?b", "a/b", False),                 # '?' does not match '/'
    ("[!x]*.jpg", "y1.jpg", True),
    ("[!x]*.jpg", "x1.jpg", False),
    ("shoot-[0-9].jpg", "shoot-7.jpg", True),
    ("*.JPG", "photo.jpg", True),          # case-insensitive, like SMB shares
    ("a.b", "axb", False),                 # '.' is literal
    ("spring-campaign/**", "spring-campaign/hero/x.tif", True),
])
def test_glob_semantics(pattern, path, hit):
    assert bool(glob_to_regex(pattern).fullmatch(path)) is hit


@pytest.mark.parametrize("pattern", ["", "/abs/**", "a**", "a//b", "a/[bc", "../x", "a\\b",
                                     "[z-a].jpg"])
def test_invalid_globs(pattern):
    with pytest.raises(ValueError):
        glob_to_regex(pattern)


def test_invalid_glob_in_manifest_is_reported(env):
    err = one_problem(env, "styles: {s: {image: starry_night.jpg}}\n"
                           "rules: [{match: 'a/[bc', outputs: [{style: s}]}]\n")
    assert err.startswith("rules[0].match: 'a/[bc' is not a valid glob: unclosed '['")


@pytest.mark.parametrize("image", ["../../etc/passwd", "../config.yaml", "sub/../../x.jpg"])
def test_style_paths_outside_styles_dir_refused(env, image):
    err = one_problem(env, f"styles: {{s: {{image: '{image}'}}}}\n"
                           "rules: [{match: '**', outputs: [{style: s}]}]\n")
    assert err.startswith("styles.s.image: ") and "outside styles_dir" in err


def test_absolute_style_path_refused_even_inside_styles_dir(env):
    inside = env.styles_dir / "starry_night.jpg"
    for image in ("/etc/passwd", str(inside)):
        err = one_problem(env, f"styles: {{s: {{image: '{image}'}}}}\n"
                               "rules: [{match: '**', outputs: [{style: s}]}]\n")
        assert err.startswith("styles.s.image: ") and "absolute path, outside styles_dir" in err


def test_symlink_pointing_outside_styles_dir_refused(env, tmp_path):
    secret = tmp_path / "secret.jpg"
    shutil.copy(DATA / "tubingen.jpg", secret)
    (env.styles_dir / "innocent.jpg").symlink_to(secret)
    (env.styles_dir / "ok.jpg").symlink_to(env.styles_dir / "the_scream.jpg")
    err = one_problem(env, "styles: {s: {image: innocent.jpg}, t: {image: ok.jpg}}\n"
                           "rules: [{match: '**', outputs: [{style: s}, {style: t}]}]\n")
    assert err.startswith("styles.s.image: 'innocent.jpg' resolves outside styles_dir")


@pytest.mark.parametrize("output, key, expected", [
    ("{styles: [starry, monet]}", "rules[0].outputs[0].styles[1]",
     "unknown style 'monet'; defined styles: scream, starry"),
    ("{style: monet}", "rules[0].outputs[0].style", "unknown style 'monet'"),
    ("{styles: {starry: 0.7, scream: -0.3}}", "rules[0].outputs[0].styles.scream",
     "weight -0.3 is not allowed; use a number >= 0"),
    ("{styles: {starry: 0, scream: 0}}", "rules[0].outputs[0].styles",
     "all blend weights are zero"),
    ("{styles: []}", "rules[0].outputs[0].styles", "empty"),
    ("{styles: [starry], style: scream}", "rules[0].outputs[0]", "exactly one of"),
    ("{styles: [starry], preserve_color: sepia}", "rules[0].outputs[0].preserve_color",
     "none, luminance, match"),
    ("{styles: [starry], colour: x}", "rules[0].outputs[0].colour",
     "unknown key; allowed: styles, style, name, size"),
    ("{styles: [starry], size: 4000}", "rules[0].outputs[0].size",
     "4000 exceeds limits.max_size; use at most 1536"),
    ("{styles: [starry], name: 'Big Hero!'}", "rules[0].outputs[0].name", "a-z, 0-9"),
])
def test_output_problems_name_key_path(env, output, key, expected):
    err = one_problem(env, "styles:\n  starry: {image: starry_night.jpg}\n"
                           "  scream: {image: the_scream.jpg}\n"
                           f"rules:\n  - match: '**'\n    outputs:\n      - {output}\n")
    assert err.startswith(f"{key}: "), err
    assert expected in err


def test_style_params_checked_against_limits_and_blamed_on_the_style(env):
    found = problems(env, "styles:\n  big: {image: starry_night.jpg, steps: 1000}\n"
                          "  odd: {image: the_scream.jpg, style_scale: 9, sise: 3}\n"
                          "rules: [{match: '**', outputs: [{style: big}]}]\n")
    text = "\n".join(found)
    assert "styles.big.steps: 1000 exceeds limits.max_steps; use at most 400" in text
    assert "styles.odd.style_scale: style_scale must be between 0.05 and 4" in text
    assert "styles.odd.sise: unknown key (did you mean size?); allowed: image, size" in text
    assert len(found) == 3, found  # the output using `big` does not repeat the complaint


def test_duplicate_slugs_within_a_rule(env):
    err = one_problem(env, "styles: {s: {image: starry_night.jpg}}\nrules: [{match: '**', "
                           "outputs: [{style: s}, {style: s, size: 800}]}]\n")
    assert err.startswith("rules[0].outputs[1]: output name 's' is already used by "
                          "rules[0].outputs[0]")
    assert problems(env, "styles: {s: {image: starry_night.jpg}}\n"
                         "rules: [{match: '**', outputs: [{style: s},"
                         " {style: s, size: 800, name: s-large}]}]\n") == []


def test_structure_problems_all_reported(env):
    found = problems(env, "styles:\n  starry: {image: nope.jpg}\n  Bad Name: {image: x.jpg}\n"
                          "rulez: []\n")
    text = "\n".join(found)
    assert "styles.starry.image: 'nope.jpg' does not exist in styles_dir" in text
    assert "styles.Bad Name: style names may use only a-z" in text
    assert ": rulez: unknown key (did you mean rules?); allowed: styles, rules" in text
    assert ": rules: expected a non-empty list of rules" in text
    assert len(found) == 4


def test_yaml_syntax_error_has_line_number(env):
    err = one_problem(env, "styles:\n  s: {image: starry_night.jpg\nrules: []\n")
    assert "line 3" in err and "invalid YAML" in err
    err = one_problem(env, "styles: {s: {image: starry_night.jpg}}\n"
                           "rules:\n  - match: **\n    outputs: [{style: s}]\n")
    assert err.startswith("line 3, column") and 'quote values that start with \'*\'' in err


def test_load_manifest_raises_listing_all(env):
    write(env, "styles: {s: {image: x.jpg}}\nrules: [{match: '**', outputs: [{style: t}]}]\n")
    with pytest.raises(ConfigError) as info:
        load_manifest(env.manifest, env.styles_dir, env)
    assert len(info.value.errors) == 2
    assert all(e.startswith(str(env.manifest)) for e in info.value.errors)


# ---------------------------------------------------------------------------------------
# ManifestStore

BROKEN = GOOD.replace("[starry]}", "[monet]}")


def test_store_keeps_last_good_on_bad_edit_then_recovers(env):
    write(env, GOOD)
    store = ManifestStore(env.manifest, env.styles_dir, env)
    err_file = error_file_for(env.manifest)
    assert err_file.name == "manifest.yaml.error.json"
    first = store.current
    assert first is not None and store.errors == [] and not err_file.exists()
    assert store.reload_if_changed() is False  # unchanged

    write(env, BROKEN)
    assert store.reload_if_changed() is False
    assert store.current is first and store.errors
    report = json.loads(err_file.read_text())
    assert report["manifest"] == str(env.manifest)
    assert "unknown style 'monet'" in report["errors"][0]
    assert report["using"] == f"last good manifest loaded at {store.loaded_at.isoformat()}"
    assert report["time"]

    write(env, GOOD.replace("priority: 10", "priority: 20"))
    assert store.reload_if_changed() is True
    assert store.current is not first and store.current.rules[0].priority == 20
    assert not err_file.exists() and store.errors == []


def test_store_missing_manifest_at_start_then_created(env):
    store = ManifestStore(env.manifest, env.styles_dir, env)
    assert store.current is None and store.loaded_at is None
    assert "file not found" in store.errors[0]
    report = json.loads(error_file_for(env.manifest).read_text())
    assert report["using"].startswith("none: new photos are held")
    assert store.reload_if_changed() is False
    write(env, GOOD)
    assert store.reload_if_changed() is True and store.current is not None
    assert not error_file_for(env.manifest).exists()


def test_store_invalid_at_start_has_no_current(env):
    write(env, BROKEN)
    store = ManifestStore(env.manifest, env.styles_dir, env)
    assert store.current is None and "monet" in store.errors[0]
    assert error_file_for(env.manifest).exists()


def test_store_detects_same_mtime_same_size_edit_by_hash(env):
    write(env, GOOD)
    store = ManifestStore(env.manifest, env.styles_dir, env)
    st = os.stat(env.manifest)
    edited = GOOD.replace("priority: 10", "priority: 42")
    assert len(edited) == len(GOOD)
    write(env, edited)
    os.utime(env.manifest, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(env.manifest).st_mtime_ns == st.st_mtime_ns
    assert store.reload_if_changed() is True
    assert store.current.rules[0].priority == 42


def test_store_follows_replaced_file(env):
    """Editors save by writing a new file and renaming it over the old one."""
    write(env, GOOD)
    store = ManifestStore(env.manifest, env.styles_dir, env)
    tmp = env.manifest.with_name(".manifest.yaml.swp")
    tmp.write_text(GOOD.replace("priority: 10", "priority: 5"))
    os.replace(tmp, env.manifest)
    assert store.reload_if_changed() is True and store.current.rules[0].priority == 5


def test_store_survives_unwritable_error_file(env, monkeypatch):
    write(env, GOOD)
    store = ManifestStore(env.manifest, env.styles_dir, env)

    def refuse(*_a, **_k):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr("deepart_batch.settings.manifest.atomic_write_json", refuse)
    write(env, BROKEN)
    assert store.reload_if_changed() is False
    assert store.current is not None and store.errors
    monkeypatch.setattr("deepart_batch.settings.manifest._parse", lambda *a: 1 / 0)
    write(env, GOOD + "\n")
    assert store.reload_if_changed() is False  # even an unexpected crash stays inside


def test_store_does_not_create_missing_parent_dir(env, tmp_path):
    missing = tmp_path / "unmounted" / "manifest.yaml"
    store = ManifestStore(missing, env.styles_dir, env)
    assert store.current is None and store.errors
    assert not missing.parent.exists()
