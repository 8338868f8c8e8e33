"""The three systemd units, made from a config: what `deepart-batch units` prints or installs.

The templates (`unit_templates/*.in`, string.Template: `$$` is a literal `$`) are the
shipped units with the config's paths left open; `systemd/` in the checkout is their output
for config.example.yaml installed as README.md says, and tests/ops/test_systemd_units.py keeps
the two equal byte for byte. What comes from the config:

- ``ExecStart=``: the entry point of the venv this command runs from (or ``venv``) and
  the config's path as the unit should name it;
- ``ReadWritePaths=``: inbox, outbox, state_dir and the JSON log's folder (a folder inside
  another one listed is left out), and, optional with ``-``, metrics.textfile's folder;
- ``RequiresMountsFor=``: the folders themselves (inbox, outbox, styles_dir, state_dir and
  the log folder). systemd resolves each path to every mount on the way to it, so naming
  the folders covers a share mounted on the folder or on any parent, including mounts that
  are not there on the box where the units are made. Mount points read from this box's
  mount table instead would make the output depend on where it ran, and a common parent
  (``/srv/deepart``) would miss a share mounted on ``/srv/deepart/inbox`` itself.

Every value is checked before it is written: a newline would end the directive and start
another one (``ExecStartPre=+...`` runs as root), and other control characters have no
safe spelling in a unit file, so a value holding one is refused, naming its config key
(`UnsafeUnitValue`). Everything else is escaped as systemd reads it: ``%`` as ``%%``
(a specifier), ``$`` as ``$$`` on Exec lines, and a word with whitespace, quotes or
backslashes in double quotes with C-style escapes.

No torch and no daemon imports: stdlib and the settings schema only.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from string import Template

from ..errors import ParamsError
from ..settings.config import Config

__all__ = ["UNIT_NAMES", "SYSTEM_DIR", "UnitPaths", "UnsafeUnitValue", "unit_paths",
           "render_units", "default_entry_point", "printed"]

UNIT_NAMES = ("deepart-batch.service", "deepart-batch-bulk.service", "deepart-batch-bulk.timer")
SYSTEM_DIR = Path("/etc/systemd/system")
ENTRY_POINT = "deepart-batch"
METRICS_COMMENT = '# For metrics.textfile; "-" means start anyway when node_exporter is absent.'
NO_METRICS = "# No metrics.textfile in the config: no folder for it."


@dataclass(frozen=True)
class UnitPaths:
    """What the templates are filled with, each already written as unit-file words."""
    config: str
    entry_point: str
    inbox: str
    outbox: str
    read_write_paths: str
    metrics_paths: str
    requires_mounts: str

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def default_entry_point() -> Path:
    """The console script of the venv (or installation) this process runs from."""
    return Path(sys.prefix) / "bin" / ENTRY_POINT


class UnsafeUnitValue(ParamsError):
    """A config value that no unit-file spelling keeps on its own line as itself."""


# Control characters (a newline ends the directive), line and paragraph separators, and
# lone surrogates (not UTF-8): no escape systemd reads gives them back everywhere.
UNWRITABLE_CATEGORIES = ("Cc", "Zl", "Zp", "Cs")


def _check(key: str, value: os.PathLike | str) -> None:
    """UnsafeUnitValue naming `key` and the first unwritable character of `value`, if any."""
    text = str(value)
    for i, c in enumerate(text):
        category = unicodedata.category(c)
        if category in UNWRITABLE_CATEGORIES:
            what = "a newline" if c == "\n" else \
                f"the {'control ' if category == 'Cc' else ''}character {c!r}"
            raise UnsafeUnitValue(
                f"{key}: {text!r} holds {what} (at position {i}), which a systemd unit "
                f"cannot hold safely; no units were made. Rename the folder or fix {key} "
                f"in the config, then run `deepart-batch units` again")


def _word(path: os.PathLike | str, *, exec_line: bool = False) -> str:
    """One path as a unit-file word: % is a specifier (%%), whitespace needs quotes, and
    on an Exec line $ is a variable ($$)."""
    text = str(path).replace("%", "%%")
    if exec_line:
        text = text.replace("$", "$$")
    if any(c.isspace() for c in text) or '"' in text or "\\" in text:
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _outermost(paths: list[PurePosixPath]) -> list[PurePosixPath]:
    """`paths` in order, without duplicates and without one inside another listed."""
    kept: list[PurePosixPath] = []
    for p in paths:
        if any(p == k or k in p.parents for k in kept):
            continue
        kept = [k for k in kept if p not in k.parents]
        kept.append(p)
    return kept


def unit_paths(config: Config, config_path: os.PathLike | str | None = None,
               entry_point: os.PathLike | str | None = None) -> UnitPaths:
    """The template values for `config`; `config_path`: where the units should find it
    (default: the file it was read from)."""
    posix = PurePosixPath
    _check_config(config, config_path, entry_point)
    log_dir = [posix(config.logging.json_file).parent] if config.logging.json_file else []
    writable = _outermost([posix(config.inbox), posix(config.outbox), posix(config.state_dir),
                           *log_dir])
    mounts = _outermost([posix(config.inbox), posix(config.outbox), posix(config.styles_dir),
                         posix(config.manifest).parent, posix(config.state_dir), *log_dir])
    if config.metrics.textfile:
        metrics = (f"{METRICS_COMMENT}\nReadWritePaths=-"
                   f"{_word(posix(config.metrics.textfile).parent)}")
    else:
        metrics = NO_METRICS
    return UnitPaths(
        config=_word(config_path or config.source, exec_line=True),
        entry_point=_word(entry_point or default_entry_point(), exec_line=True),
        inbox=_word(config.inbox), outbox=_word(config.outbox),
        read_write_paths=" ".join(_word(p) for p in writable),
        metrics_paths=metrics,
        requires_mounts=" ".join(_word(p) for p in mounts))


def _check_config(config: Config, config_path, entry_point) -> None:
    """Every value a unit is made from, by the key the user would fix."""
    values = {"inbox": config.inbox, "outbox": config.outbox, "state_dir": config.state_dir,
              "styles_dir": config.styles_dir, "manifest": config.manifest,
              "logging.json_file": config.logging.json_file,
              "metrics.textfile": config.metrics.textfile,
              "--config-path (or the config's own path)": config_path or config.source,
              "--entry-point": entry_point or default_entry_point()}
    for key, value in values.items():
        if value is not None:
            _check(key, value)


def _template(name: str) -> Template:
    return Template(resources.files(__package__).joinpath("unit_templates", name + ".in")
                    .read_text(encoding="utf-8"))


def render_units(values: UnitPaths) -> dict[str, str]:
    """{unit file name: its text}, in UNIT_NAMES order."""
    return {name: _template(name).substitute(values.to_dict()) for name in UNIT_NAMES}


def printed(units: dict[str, str], folder: Path = SYSTEM_DIR) -> str:
    """All units as one text, each after a `# ==> path <==` line (as `head` shows files)."""
    return "\n".join(f"# ==> {folder / name} <==\n{text}" for name, text in units.items())
