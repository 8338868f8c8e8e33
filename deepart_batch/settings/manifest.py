"""Loading the manifest, and reloading it live while the marketing team edits it.

Because people edit this file while the daemon runs, `ManifestStore` keeps the last good
manifest when an edit is broken, and explains the problem in `<manifest>.error.json` next
to it, where the person who broke it will look. What a valid manifest is (its dataclasses
and parser) lives in `manifest_schema`; the rule globs in `globs`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

from loguru import logger

from .config import Config
from .globs import glob_to_regex
from .manifest_schema import Manifest, ManifestParser, OutputSpec, Rule, StyleDef
from ..paths import atomic_write_json
from .yamlcheck import bounded, raise_problems, read_file, read_yaml

__all__ = ["StyleDef", "OutputSpec", "Rule", "Manifest", "ManifestStore", "load_manifest",
           "check_manifest", "peek_manifest", "glob_to_regex", "error_file_for"]

_HINT = "create the manifest (see examples/demo/manifest.yaml)"


def _parse(path: Path, text: bytes, styles_dir, config: Config, notes: list | None = None,
           missing: list | None = None) -> tuple[Manifest | None, list[str]]:
    """`missing`: when given, a painting file that is not there is no problem; its path is
    added to the list (the daemon holds only the photos that need it)."""
    data, problems = read_yaml(str(path), text)
    if problems:
        return None, problems
    parser = ManifestParser(str(path), Path(styles_dir), config,
                            allow_missing=missing is not None)
    manifest = parser.manifest(data, Path(os.path.abspath(path)))
    if notes is not None:
        notes += bounded(parser.notes)
    if missing is not None:
        missing += parser.missing
    return manifest, bounded(parser.problems)


def _load(path, styles_dir, config: Config, notes: list | None = None
          ) -> tuple[Manifest | None, list[str]]:
    text, problems = read_file(Path(path), _HINT)
    return (None, problems) if text is None else _parse(Path(path), text, styles_dir, config,
                                                        notes)


def load_manifest(path: str | os.PathLike, styles_dir: str | os.PathLike,
                  config: Config) -> Manifest:
    """Parse and validate; ConfigError lists every problem, one per line."""
    manifest, problems = _load(path, styles_dir, config)
    if manifest is None:
        raise_problems(problems)
    return manifest  # type: ignore[return-value]


def check_manifest(path: str | os.PathLike, styles_dir: str | os.PathLike,
                   config: Config, notes: list | None = None) -> list[str]:
    """For `validate`: every problem, or an empty list; `notes` collects remarks that are
    not errors (blend weights scaled to sum to 1)."""
    return _load(path, styles_dir, config, notes)[1]


def peek_manifest(path: str | os.PathLike, styles_dir: str | os.PathLike,
                  config: Config) -> Manifest | None:
    """The manifest as the daemon would load it (paintings not there yet allowed), or None
    when it is missing or invalid; quiet: no log, no error file (the styles page reads it)."""
    try:
        text = Path(path).read_bytes()
    except OSError:
        return None
    try:
        return _parse(Path(path), text, styles_dir, config, missing=[])[0]
    except Exception:   # a page must never fail on what the daemon reports elsewhere
        return None


# ---------------------------------------------------------------------------------------
# live reloading


def error_file_for(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".error.json")


class ManifestStore:
    """The last good manifest, reloaded when the file's (mtime, size, sha256) changes.

    Editors replace files and shares lag on mtimes, so the file is stat'ed and read by path
    on every check, and the content hash catches an edit that kept mtime and size.
    """

    def __init__(self, path: str | os.PathLike, styles_dir: str | os.PathLike, config: Config):
        self.path, self.styles_dir, self.config = Path(path), Path(styles_dir), config
        self.error_file = error_file_for(self.path)
        self.loaded_at: datetime | None = None
        self.errors: list[str] = []
        self._current: Manifest | None = None
        self._signature: tuple | None = ()   # () = never checked; None = file missing
        self._missing: set[Path] = set()     # paintings named but not there (yet)
        self._lock = threading.Lock()
        self.reload_if_changed()

    @property
    def current(self) -> Manifest | None:
        return self._current

    def reload_if_changed(self) -> bool:
        """True when a new manifest became current; never raises."""
        try:
            with self._lock:
                return self._reload()
        except Exception as exc:  # the daemon's loop must survive anything here
            logger.opt(exception=exc).error(f"{self.path}: manifest reload failed: {exc}")
            return False

    def _reload(self) -> bool:
        try:
            st = os.stat(self.path)
            text = self.path.read_bytes()
            signature = (st.st_mtime_ns, st.st_size, hashlib.sha256(text).hexdigest())
        except FileNotFoundError:
            text, signature = None, None
        except OSError as exc:
            if self._signature != ("unreadable", exc.errno):
                self._signature = ("unreadable", exc.errno)
                self._fail([f"{self.path}: cannot read: {exc.strerror or exc}"])
            return False
        if signature == self._signature:
            return False
        self._signature = signature
        if text is None:
            self._fail(read_file(self.path, _HINT)[1])
            return False
        missing: list[Path] = []
        manifest, problems = _parse(self.path, text, self.styles_dir, self.config,
                                    missing=missing)
        if manifest is None:
            self._fail(problems)
            return False
        self._current, self.errors = manifest, []
        self._missing = set(missing)
        if missing:
            logger.warning(f"{self.path}: painting(s) not in {self.styles_dir}: "
                           f"{', '.join(sorted(p.name for p in missing))}; photos whose rules "
                           f"use them are held (style_missing) until they arrive")
        self.loaded_at = datetime.now(timezone.utc)
        logger.info(f"{self.path}: manifest loaded: {len(manifest.styles)} styles, "
                    f"{len(manifest.rules)} rules")
        try:
            self.error_file.unlink(missing_ok=True)
        except OSError as exc:
            logger.warning(f"{self.error_file}: cannot remove stale error file: {exc}")
        return True

    def note_missing(self, paths) -> None:
        """Paintings found missing while planning or dispatching: watched for arrival."""
        self._missing.update(Path(p) for p in paths)

    def styles_arrived(self) -> list[str]:
        """Names of the paintings noted missing that are there now (a few stat calls)."""
        arrived = {p for p in self._missing if p.is_file()}
        self._missing -= arrived
        return sorted(p.name for p in arrived)

    def _fail(self, problems: list[str]) -> None:
        self.errors = problems
        using = (f"last good manifest loaded at {self.loaded_at.isoformat()}"
                 if self._current is not None and self.loaded_at else
                 "none: new photos are held until the manifest is fixed")
        logger.error(f"{self.path}: manifest not loaded ({len(problems)} problem(s)); "
                     f"using {using}:\n" + "\n".join(problems))
        report = {"manifest": str(self.path), "errors": problems,
                  "time": datetime.now(timezone.utc).isoformat(), "using": using}
        if not self.error_file.parent.is_dir():  # never mkdir an unmounted share's mount point
            logger.warning(f"{self.error_file.parent} does not exist; no error file written")
            return
        try:
            atomic_write_json(self.error_file, report)
        except OSError as exc:
            logger.warning(f"{self.error_file}: cannot write error file: {exc}")
