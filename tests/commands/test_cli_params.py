"""The render options come from RenderParams and the settings schema, not retyped copies."""

import argparse
from dataclasses import fields

import pytest

from deepart_batch.cli import build_parser
from deepart_batch.commands.options import CONFIG_ONLY_PARAMS, params_from_args
from deepart_batch.core.params import RenderParams, param_choices
from deepart_batch.settings.config import Config, LimitsConfig, OutputConfig


def _render_actions():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in sub.choices["render"]._actions}


def test_every_render_param_is_an_option_with_the_engines_default_and_choices():
    actions, defaults = _render_actions(), RenderParams()
    for f in fields(RenderParams):
        if f.name in CONFIG_ONLY_PARAMS:
            assert f.name not in actions
            continue
        action = actions[f.name]
        assert f.metadata["help"] and f.metadata["help"] in action.help
        want = [] if f.name == "layer_weights" else getattr(defaults, f.name)
        assert action.default == want, f.name
        if f.name != "init":                     # init also takes a start image's path
            assert tuple(action.choices or ()) == tuple(f.metadata["choices"] or ()), f.name


def test_settings_defaults_reach_the_options():
    actions = _render_actions()
    assert actions["weights"].default == Config.__dataclass_fields__["weights"].default
    assert actions["quality"].default == OutputConfig().quality
    assert actions["max_pixels"].default == LimitsConfig().max_input_pixels


def test_choices_have_one_home():
    from deepart_batch.settings.config import PARAM_CHOICES
    assert PARAM_CHOICES == param_choices()
    assert set(param_choices()) == {"optimizer", "init", "preserve_color", "pooling", "precision"}


@pytest.mark.parametrize("argv, want, init_image", [
    ([], RenderParams(), None),
    (["--size", "64", "--scales", "0.5,1", "--scale-steps", "5,7", "--steps", "12",
      "--layer-weight", "relu4_2=2", "--preserve-color", "--init", "noise",
      "--learning-rate", "0.5", "--style-layers", "relu1_1"],
     RenderParams(size=64, scales=(0.5, 1.0), scale_steps=(5, 7), steps=12,
                  layer_weights={"relu4_2": 2.0}, preserve_color="luminance", init="noise",
                  learning_rate=0.5, style_layers=("relu1_1",)), None),
    (["--init", "start.png"], RenderParams(init="image"), "start.png"),
])
def test_parsed_options_become_render_params(argv, want, init_image):
    args = build_parser().parse_args(["render", "c.jpg", "s.jpg", "-o", "o.png", *argv])
    assert params_from_args(args) == (want, init_image)
