"""config.example.yaml says it lists every key: every field of the config's dataclasses and
of RenderParams (the `defaults:` section) appears in it, in its own section."""

import re
from dataclasses import fields, is_dataclass
from pathlib import Path

from deepart_batch.core.params import RenderParams
from deepart_batch.settings.config import Config, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"
NOT_KEYS = {"source"}   # Config.source is where the file was read from, not a key
NESTED = {"gallery_base_url": ("gallery", "base_url")}   # a field read from a section


def sections(text: str) -> dict[str, str]:
    """Top-level key -> the text of its section (its indented lines, comments included)."""
    out, current = {"": ""}, ""
    for line in text.splitlines():
        top = re.match(r"(\w+):", line)   # not indented, not a comment
        if top:
            current = top.group(1)
        out[current] = out.get(current, "") + line + "\n"
    return out


def shown(key: str, text: str) -> bool:
    """The key as a line of its own, set or commented out (`# warm: true`)."""
    return re.search(rf"^\s*(#\s*)?{re.escape(key)}:", text, re.M) is not None


def test_every_config_key_is_in_the_example():
    text = EXAMPLE.read_text()
    parts = sections(text)
    missing = []
    for f in fields(Config):
        if f.name in NOT_KEYS:
            continue
        if f.name in NESTED:
            section, key = NESTED[f.name]
            if not shown(key, parts.get(section, "")):
                missing.append(f"{section}.{key}")
            continue
        if f.name not in parts:
            missing.append(f.name)
            continue
        section = f.default_factory if f.default_factory is not None else None
        if callable(section) and is_dataclass(section):
            missing += [f"{f.name}.{g.name}" for g in fields(section)
                        if not shown(g.name, parts[f.name])]
    assert missing == [], f"config.example.yaml lacks {missing}"


def test_every_render_parameter_is_in_the_examples_defaults():
    defaults = sections(EXAMPLE.read_text())["defaults"]
    missing = [f.name for f in fields(RenderParams) if not shown(f.name, defaults)]
    assert missing == [], f"config.example.yaml's defaults: lacks {missing}"


def test_the_example_loads_with_every_key_it_shows():
    config = load_config(EXAMPLE)
    assert config.render_params().print_size == 4096
    assert set(config.defaults) >= {"print_size", "init", "pooling", "lbfgs_history"}
