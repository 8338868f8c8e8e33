"""`systemctl reload` (SIGHUP): the config's reloadable parts, applied to the running service.

The service's collaborators share one Config object and read most of it when they use it,
so a field read that way is applied by replacing it on that object. What a collaborator
copied at start (the retry/hold policy of Holding and Outcomes, the team's notifier) it
rebuilds itself: each is handed the reloaded config through its own `apply(config)`. Everything else (folders, devices, workers, watching, logging, metrics,
executor) is set up once at start: a change there is named in one log line, "needs a
restart", and left as it was. A config that does not load is one error line, and the
service goes on with the config it has. The manifest needs nothing here: the service
checks it on every tick (mtime, size and content hash) and reloads it when it changed.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Iterable, Protocol

from loguru import logger

from ...errors import DeepartError
from ...settings.config import Config, load_config

__all__ = ["LIVE", "reload_config", "changed_fields"]

# Dotted config fields applied without a restart (a section name: all of its fields).
LIVE = ("defaults", "limits", "output.format", "output.quality", "output.name_template",
        "max_attempts", "problems.hold_seconds", "problems.hold_max_seconds", "retention",
        "notify", "cards")


class Reloadable(Protocol):
    def apply(self, config: Config) -> None:
        """Take the reloaded config: rebuild what was copied from it at start."""


def changed_fields(old, new, prefix: str = "") -> list[str]:
    """Dotted names of the fields whose values differ, nested dataclasses field by field."""
    changed = []
    for f in fields(old):
        if f.name == "source":
            continue
        a, b, name = getattr(old, f.name), getattr(new, f.name), prefix + f.name
        if is_dataclass(a) and is_dataclass(b):
            changed += changed_fields(a, b, name + ".")
        elif a != b:
            changed.append(name)
    return changed


def _live(name: str) -> bool:
    return any(name == live or name.startswith(live + ".") for live in LIVE)


def _assign(config: Config, new: Config, name: str) -> None:
    *parents, last = name.split(".")
    target, source = config, new
    for part in parents:
        target, source = getattr(target, part), getattr(source, part)
    object.__setattr__(target, last, getattr(source, last))


def reload_config(config: Config, collaborators: Iterable[Reloadable]) -> list[str]:
    """Apply the reloadable changes of the config file to `config` (in place: it is read
    when used) and hand it to each collaborator; the names applied."""
    try:
        new = load_config(config.source)
    except DeepartError as exc:
        logger.error("reload: config not reloaded, still running with the one loaded "
                     "before: {}", exc)
        return []
    changed = changed_fields(config, new)
    applied = [name for name in changed if _live(name)]
    refused = [name for name in changed if not _live(name)]
    for name in applied:
        _assign(config, new, name)
    if applied:
        for collaborator in collaborators:
            collaborator.apply(config)
    logger.info("reload: {}; {}",
                f"applied {', '.join(applied)}" if applied else "no reloadable change",
                f"needs a restart, not applied: {', '.join(refused)}" if refused
                else "nothing needs a restart")
    return applied

