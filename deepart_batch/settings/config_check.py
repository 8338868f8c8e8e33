"""What `validate` checks beyond loading the config: that the folders and files it names
are there and reachable by this user, and which settings the chosen executor ignores."""

from __future__ import annotations

import os
from pathlib import Path

from .config import Config, read_config


def check_config(path: str | os.PathLike) -> tuple[Config | None, list[str]]:
    """For `validate`: load, then also check that styles_dir, manifest and weights exist and
    that this user can read them, and what the service writes to outside its folders."""
    from .access import kind_of
    from .service_files import service_file_problems
    config, problems = read_config(Path(path))
    if config is None:
        return None, problems
    styles = kind_of(config.styles_dir)
    if styles in ("missing", "file", "other"):
        problems.append(f"{path}: styles_dir: {config.styles_dir} is not a directory; "
                        f"create it or point styles_dir at the folder of painting images")
    else:
        problems += _reach(path, "styles_dir", config.styles_dir, os.R_OK | os.X_OK)
    problems += manifest_problems(path, config)
    if config.weights not in ("bundled", "torchvision"):
        if kind_of(config.weights) == "missing":
            problems.append(f"{path}: weights: {config.weights} does not exist; use bundled, "
                            f"torchvision or the path of a VGG19 state dict")
        else:
            problems += _reach(path, "weights", config.weights, os.R_OK)
    problems += [f"{path}: {p}" for p in service_file_problems(config)]
    return config, problems


def manifest_problems(path, config: Config) -> list[str]:
    """The manifest is missing or unreadable: one line (then its contents are not checked,
    so `validate` never says it twice)."""
    from .access import kind_of
    if kind_of(config.manifest) == "missing":
        return [f"{path}: manifest: {config.manifest} does not exist; create it "
                f"(see examples/demo/manifest.yaml)"]
    return _reach(path, "manifest", config.manifest, os.R_OK)


def _reach(source, key: str, target, want: int) -> list[str]:
    from .access import reach_problem
    problem = reach_problem(key, target, want)
    return [f"{source}: {problem}"] if problem else []


def ignored_settings(config: Config) -> str | None:
    """One line naming what the config sets that its executor does not use, or None."""
    if config.executor.kind != "ray":
        return None
    named = [n for n, default in (("devices", "auto"), ("jobs_per_device", 1))
             if getattr(config, n) != default]
    if not named:
        return None
    return (f"{config.source}: {' and '.join(named)} {'is' if len(named) == 1 else 'are'} "
            "ignored under executor kind ray (each node runs one actor per GPU plus "
            "executor.cpu_actors_per_node); remove "
            f"{'it' if len(named) == 1 else 'them'} or use kind local")


def capped_settings(config: Config, manifest=None) -> list[str]:
    """Settings another one caps, each with the value that actually applies: a default or
    a rule that asks for more than a limit allows is not an error, but people should not
    have to find out from a print's size."""
    from ..core.style_card_names import CARD_MAX_SIZE
    lines = []
    limit = config.limits.max_size
    params = config.render_params()
    asked = "the default print_size" if "print_size" not in config.defaults else \
        "defaults.print_size"
    if params.print_size > limit:
        lines.append(f"{config.source}: {asked} {params.print_size} is above limits.max_size "
                     f"{limit}: approved previews are printed at {limit} px (raise "
                     f"limits.max_size to print larger, or set defaults.print_size)")
    for rule in (manifest.rules if manifest is not None else ()):
        for out in rule.outputs:
            size = out.params.get("print_size")
            if isinstance(size, int) and size > limit:
                lines.append(f"{manifest.source}: rule \"{rule.match}\" output {out.slug}: "
                             f"print_size {size} is above limits.max_size {limit}: its "
                             f"prints are made at {limit} px")
    if params.size > CARD_MAX_SIZE and config.cards:
        lines.append(f"{config.source}: style cards are rendered at {CARD_MAX_SIZE} px, not "
                     f"defaults.size {params.size} (cards are small on purpose)")
    return lines
