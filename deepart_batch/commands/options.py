"""Options built from the library's own fields: RenderParams and the settings schema carry
each value's default, choices and help, and the parsers are generated from them, so the CLI
never retypes what the engine or the config already says."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, Field, fields
from typing import Any, Callable

from ..core.params import RenderParams
from ..settings.config import Config, LimitsConfig, OutputConfig

CONFIG_HELP = "config YAML (see config.example.yaml)"
DEVICE_HELP = "auto, cpu, cuda or cuda:N"
# RenderParams fields set only in the config or the manifest, not on the command line
CONFIG_ONLY_PARAMS = ("pooling", "lbfgs_history", "print_size")   # print_size: the daemon's
# approve-to-print only (outbox/_approve/), nothing `render` could do with it


def csv_list(text: str) -> tuple[str, ...]:
    return tuple(t for t in (x.strip() for x in text.split(",")) if t)


def float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in csv_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 0.25,0.5,1, got {text!r}") from None


def int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in csv_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 200,80,20, got {text!r}") from None


def layer_weight(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LAYER=WEIGHT, got {text!r}") from None


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" only where the help does not already say the default and there is
    one to say: no "(default: equal) (default: None)"."""

    def _get_help_string(self, action):
        text, default = action.help or "", action.default
        if "default" in text or default is None or default is False or \
                default is argparse.SUPPRESS or default == [] or not action.option_strings:
            return text
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


# --- reading a dataclass field's default and words


def field_of(cls, name: str) -> Field:
    return next(f for f in fields(cls) if f.name == name)


def default_of(cls, name: str) -> Any:
    f = field_of(cls, name)
    return f.default_factory() if f.default_factory is not MISSING else f.default


def help_of(cls, name: str) -> str:
    text = field_of(cls, name).metadata.get("help")
    assert text, f"{cls.__name__}.{name} has no help metadata"
    return text


# --- render parameters as options


# A field's annotation (a string: `from __future__ import annotations`) -> the option's type
_TYPES: dict[str, Callable] = {
    "int": int, "float": float, "float | None": float, "str": None,
    "tuple[str, ...]": csv_list, "tuple[float, ...]": float_list,
    "tuple[int, ...] | None": int_list,
}

# Where the command line takes a parameter in another shape than the field holds it
_SHAPES: dict[str, dict] = {
    # one LAYER=W per flag, collected into the dict
    "layer_weights": dict(flags=("--layer-weight",), type=layer_weight, action="append",
                          default=[], metavar="LAYER=W", help_suffix=" (repeatable)"),
    # a word, or the path of a start image (RenderParams.init "image" + init_image)
    "init": dict(choices=None),
    # a bare --preserve-color means luminance
    "preserve_color": dict(nargs="?", const="luminance"),
}


def param_fields() -> list[Field]:
    """The RenderParams fields the command line takes, in the engine's order."""
    return [f for f in fields(RenderParams) if f.name not in CONFIG_ONLY_PARAMS]


def add_param_options(parser: argparse.ArgumentParser) -> None:
    """One option per RenderParams field: --name-with-dashes, the engine's default, its
    choices and help."""
    for f in param_fields():
        shape = dict(_SHAPES.get(f.name, {}))
        flags = shape.pop("flags", ("--" + f.name.replace("_", "-"),))
        suffix = shape.pop("help_suffix", "")
        if f.type not in _TYPES and "type" not in shape:
            raise TypeError(f"RenderParams.{f.name}: no option type for {f.type!r}; add one")
        kwargs = dict(dest=f.name, type=_TYPES.get(f.type),
                      default=default_of(RenderParams, f.name),
                      help=help_of(RenderParams, f.name) + suffix)
        if f.metadata.get("choices"):
            kwargs["choices"] = f.metadata["choices"]
        kwargs.update(shape)
        if kwargs.get("choices") is None:
            kwargs.pop("choices", None)
        parser.add_argument(*flags, **kwargs)


def params_from_args(args: argparse.Namespace) -> tuple[RenderParams, str | None]:
    """(RenderParams, init image path or None), not yet validated."""
    values = {f.name: getattr(args, f.name) for f in param_fields()}
    values["layer_weights"] = dict(values["layer_weights"])
    init_image = None
    if values["init"] not in ("content", "noise"):
        values["init"], init_image = "image", values["init"]
    return RenderParams(**values), init_image


# --- options that the settings schema describes


def add_config_option(parser: argparse.ArgumentParser, required: bool = True,
                      help: str = CONFIG_HELP) -> None:
    parser.add_argument("--config", required=required, help=help)


def add_weights_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default=default_of(Config, "weights"),
                        help=help_of(Config, "weights"))


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """--quality and --max-pixels: the config's output.quality and limits.max_input_pixels."""
    parser.add_argument("--quality", type=int, default=default_of(OutputConfig, "quality"),
                        help=help_of(OutputConfig, "quality"))
    parser.add_argument("--max-pixels", type=int,
                        default=default_of(LimitsConfig, "max_input_pixels"),
                        help=help_of(LimitsConfig, "max_input_pixels"))
