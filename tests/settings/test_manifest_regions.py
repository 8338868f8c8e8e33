"""A rule's `mask:` and `regions:` in the manifest: parsed, refused with key paths, and
described by `validate`."""

import pytest

from deepart_batch.core.regions import RegionSpec
from deepart_batch.settings.manifest import check_manifest, load_manifest
from test_manifest import env, problems, write  # noqa: F401  (the fixture)

HEAD = """\
styles:
  starry: {image: starry_night.jpg}
  scream: {image: the_scream.jpg}
rules:
  - match: "products/**"
"""
TAIL = "    outputs: [{style: starry}]\n"


def rule(body: str) -> str:
    return HEAD + body + TAIL


def test_regions_map_values_to_styles_overrides_and_keep(env):  # noqa: F811
    text = rule('    mask: required\n    regions:\n      white: starry\n      black: keep\n'
                '      "#ff0000": {style: scream, style_weight: 2e6}\n      128: keep\n')
    manifest = load_manifest(write(env, text), env.styles_dir, env)
    r = manifest.rules[0]
    assert r.mask == "required"
    assert r.regions == (RegionSpec((255, 255, 255), styles={"starry": 1.0}),
                         RegionSpec((0, 0, 0), keep=True),
                         RegionSpec((255, 0, 0), styles={"scream": 1.0},
                                    overrides={"style_weight": 2e6}),
                         RegionSpec((128, 128, 128), keep=True))


def test_regions_alone_mean_an_optional_mask_and_no_mask_means_none(env):  # noqa: F811
    text = rule("    regions: {black: keep}\n") + '  - match: "**"\n' + TAIL
    rules = load_manifest(write(env, text), env.styles_dir, env).rules
    assert [r.mask for r in rules] == ["optional", "none"]


@pytest.mark.parametrize("body, key, expected", [
    ("    mask: sometimes\n", "rules[0].mask", "use optional"),
    ("    mask: none\n    regions: {black: keep}\n", "rules[0].regions", "need a mask"),
    ("    regions: [white]\n", "rules[0].regions", "expected a mapping of mask values"),
    ("    regions: {red: keep}\n", "rules[0].regions.red", "'#rrggbb'"),
    ("    regions: {300: keep}\n", "rules[0].regions.300", "outside 0-255"),
    ("    regions: {white: starry, 255: keep}\n", "rules[0].regions.255",
     "same mask value as 'white'"),
    ("    regions: {white: stary}\n", "rules[0].regions.white",
     "unknown style 'stary' (did you mean starry?)"),
    ("    regions: {white: {style: scream, size: 99}}\n", "rules[0].regions.white.size",
     "unknown key"),
    ("    regions: {white: {style: scream, style_weight: -1}}\n",
     "rules[0].regions.white.style_weight", "number >= 0"),
    ("    regions: {white: {style_weight: 3}}\n", "rules[0].regions.white", "no `style:`"),
    ("    regions: {white: {style: keep, style_weight: 3}}\n", "rules[0].regions.white.style",
     "keep takes no overrides"),
    ("    regions: {white: 3}\n", "rules[0].regions.white", "a style name, keep"),
])
def test_region_problems_name_their_key_path(env, body, key, expected):  # noqa: F811
    found = problems(env, rule(body))
    assert len(found) == 1, found
    assert found[0].startswith(f"{env.manifest}: {key}: "), found[0]
    assert expected in found[0], found[0]


def test_validate_notes_say_which_mask_values_are_mapped(env):  # noqa: F811
    text = rule('    mask: required\n    regions:\n      "#ff0000": {style: scream, '
                'style_weight: 2e6}\n      white: starry\n')
    notes: list = []
    assert check_manifest(write(env, text), env.styles_dir, env, notes) == []
    assert notes == [f"{env.manifest}: rules[0] (match 'products/**'): mask required; mask "
                     f"values: white -> starry, black -> keep, #ff0000 -> scream "
                     f"(style_weight 2e+06)"]


def test_validate_command_prints_the_mapping(tmp_path):
    from support.boxes import Box
    manifest = ("styles:\n  starry: {image: starry_night.jpg}\nrules:\n"
                "  - match: 'products/**'\n    mask: optional\n"
                "    outputs: [{style: starry}]\n")
    box = Box(tmp_path, manifest=manifest)
    res = box.cli("validate", "--config", box.config)
    assert res.returncode == 0, res.stderr
    assert ("rules[0] (match 'products/**'): mask optional; mask values: "
            "white -> the output's style, black -> keep") in res.stderr
