"""The daemon's YAML config: parsed once, every problem reported at once, nothing ignored.

A typo in a key must never silently fall back to a default (a misspelt `max_size` would let
a 10k-pixel render through), so unknown keys are errors, and every message names the file,
the key path, what is wrong and what is allowed. Relative paths resolve against the config
file's directory, so the same config works whatever the daemon's working directory is.

Loading checks shape and values only; it does not require inbox, outbox or state_dir to
exist (a network share may be mounted later). `check_config` (the `validate` command) also
checks that styles_dir, the manifest and a weights file exist. The generic strict-YAML
reading and value parsers live in `yamlcheck`; this module says what a valid config is.
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from ..core import formats
from ..core.style_card_names import CARD_MAX_SIZE
from ..core.params import RenderParams
from .notify_config import NotifyConfig, notify_problems, shown_url
from .params_check import PARAM_CHOICES, check_params, param_names
from .yamlcheck import (BadValue, Reader, abspath, bounded, byte_size, choice, choices,
                        duration, integer, is_number, nonempty, optional, raise_problems,
                        read_file, read_yaml, rule, seconds, setting)

__all__ = [
    "Config", "WatchConfig", "LimitsConfig", "OutputConfig", "LoggingConfig", "MetricsConfig",
    "RetentionConfig",
    "ExecutorConfig",
    "ProblemsConfig", "NotifyConfig",
    "load_config", "check_config", "check_params", "param_names", "PARAM_CHOICES",
    "read_yaml", "read_file",
    "raise_problems", "is_number",
]

POLLING = ("auto", "always", "never")
ON_OOM = ("smaller", "cpu", "fail")
EXECUTORS = ("local", "ray")   # the keys of pool.executor.BACKENDS
# or a class by dotted path, package.module:Class or package.module.Class (as rq takes a
# worker class): an executor of your own, or the tests' in-process one
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*([:.][A-Za-z_]\w*)")
OUTPUT_FORMATS = tuple(formats.OUTPUT_FORMATS)
REPORT_LAYOUTS = ("beside", "subfolder")   # subfolder: outbox/<folder>/_reports/*.json
# limits.formats: core.formats' names (aliases like jpg and tif accepted); MPO is how Pillow
# reads many cameras' JPEGs, so `jpeg` covers it and it is not offered on its own.
INPUT_FORMATS = tuple(n for n in formats.config_names() if n != "mpo")
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
TEMPLATE_FIELDS = ("stem", "style", "ext", "campaign")
DEFAULT_IGNORE = ("*.part", "*.tmp", "*.crdownload", "~$*", ".*", ".DS_Store", "Thumbs.db",
                  "*.json")
_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


# --- config value parsers: (value, config folder) -> parsed value, or BadValue


_path = rule(nonempty, "a path (relative paths start at the config file's folder)", abspath)
_text = rule(nonempty, "a non-empty string")
_positive = rule(lambda v: is_number(v) and v > 0, "a number > 0", lambda v, _: float(v))
_flag = rule(lambda v: isinstance(v, bool), "true or false")
_str_or_int = rule(lambda v: nonempty(v) or isinstance(v, int) and is_number(v),
                   "a string like '50 MB' or an integer")
_globs = rule(lambda v: isinstance(v, list) and all(map(nonempty, v)),
              "a list of file-name patterns like '*.part'", lambda v, _: list(v))
_level = rule(lambda v: isinstance(v, str) and v.upper() in LOG_LEVELS, choices(LOG_LEVELS),
              lambda v, _: v.upper())
_weights = rule(nonempty, "bundled, torchvision or the path of a VGG19 state dict",
                lambda v, base: v if v in ("bundled", "torchvision") else str(abspath(v, base)))


def _formats(v, _base) -> list[str]:
    if not isinstance(v, list) or not v:
        raise BadValue(f"{v!r} is not allowed; use a non-empty list of "
                       f"{choices(INPUT_FORMATS)}")
    out = []
    for item in v:
        pil = formats.pil_format(str(item))
        name = formats.INPUT_FORMATS[pil][0] if pil else None
        if name not in INPUT_FORMATS:
            raise BadValue(f"format {item!r} is not allowed; use {choices(INPUT_FORMATS)}")
        out += [name] if name not in out else []
    return out


def _devices(v, _base):
    if v == "auto":
        return "auto"
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not items:
        raise BadValue(f"{v!r} is not allowed; use auto or a list like [cuda:0, cuda:1, cpu]")
    for item in items:
        if not isinstance(item, str) or not _DEVICE.fullmatch(item):
            raise BadValue(f"device {item!r} is not allowed; use cpu, cuda or cuda:N")
    return list(items)  # a device listed twice gets two workers, like jobs_per_device: 2


def _jobs_per_device(v, _base):
    if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
        return v
    raise BadValue(f"{v!r} is not allowed; use auto or an integer >= 1")
def _folder_name(v, _base) -> str:
    if not nonempty(v) or "/" in v or "\\" in v or v in (".", "..") or v.startswith("."):
        raise BadValue(f"{v!r} is not allowed; use one folder name like _problems (no '/', "
                       f"not hidden)")
    return v


def _gallery(v, _base) -> bool:
    """true, false, or {enabled: true, base_url: https://...}: where the team opens the
    outbox's pages, so notifications can link to a campaign's page."""
    if isinstance(v, bool):
        return v
    want = ("use true or false, or a mapping like {enabled: true, base_url: "
            "https://share.example.com/outbox/}")
    if not isinstance(v, dict):
        raise BadValue(f"{v!r} is not allowed; {want}")
    for key in v:
        if key not in ("enabled", "base_url"):
            raise BadValue(f"unknown key {key!r}; {want}")
    if not isinstance(v.get("enabled", True), bool):
        raise BadValue(f"enabled: {v['enabled']!r} is not allowed; use true or false")
    url = v.get("base_url")
    if url is not None and not (nonempty(url) and re.match(r"https?://[^\s/]+", url)):
        shown = shown_url(url) if isinstance(url, str) else repr(url)
        raise BadValue(f"base_url: {shown} is not allowed; use the http:// or https:// "
                       f"address at which the outbox's index.html is served")
    return v.get("enabled", True)


def _gallery_base_url(v) -> str | None:
    url = v.get("base_url") if isinstance(v, dict) else None
    return url if url is None or url.endswith("/") else url + "/"


def _template(v, _base) -> str:
    allowed = choices("{" + n + "}" for n in TEMPLATE_FIELDS)
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(v) if f is not None]
        bad = [n for n in names if n not in TEMPLATE_FIELDS]
        if bad:
            raise BadValue(f"field {{{bad[0]}}} is not allowed; use {allowed}")
        sample = v.format(stem="a", style="b", ext="jpg", campaign="c")
    except (ValueError, TypeError, AttributeError) as exc:
        raise BadValue(f"{v!r} is not a valid template ({exc}); use fields {allowed}") from None
    if "stem" not in names or "style" not in names:
        raise BadValue(f"{v!r} lacks {{stem}} or {{style}}; it needs both, or outputs would "
                       f"overwrite each other")
    if sample.startswith("/") or ".." in sample.split("/") or "\\" in sample:
        raise BadValue(f"{v!r} must stay inside the outbox: no leading '/', '..' or '\\'")
    # Photos at the inbox's top level have the empty campaign: the name must still be a
    # plain relative path then, with no empty, '.' or '..' segment.
    for campaign in ("c", ""):
        name = v.format(stem="a", style="b", ext="jpg", campaign=campaign)
        bad = [s for s in name.split("/") if s in ("", ".", "..")]
        if bad:
            shown = "'' (the empty campaign of photos at the inbox's top level)" \
                if campaign == "" else f"{campaign!r}"
            raise BadValue(f"{v!r} gives {name!r} for campaign {shown}, which is not a path "
                           f"inside the outbox; outputs already go under their campaign's "
                           f"folder, so use {{campaign}} inside a name, as in "
                           f"'{{campaign}}-{{stem}}.{{style}}.{{ext}}'")
    return v


# --- the config: each field carries its YAML parser; one without a default is required


@dataclass
class WatchConfig:
    polling: str = setting(choice(POLLING), "auto")  # auto: poll on network filesystems
    settle_seconds: float = setting(seconds(positive=False), 5.0)  # unchanged this long first
    rescan_seconds: float = setting(seconds(), 60.0)  # full rescan: shares drop events
    poll_interval: float = setting(seconds(), 2.0)
    ignore: list[str] = setting(_globs, factory=lambda: list(DEFAULT_IGNORE))


@dataclass
class LimitsConfig:
    max_size: int = setting(integer(16), 2048)
    max_steps: int = setting(integer(1), 2000)
    max_input_pixels: int = setting(integer(1), 50_000_000,
                                    help="refuse inputs with more pixels (decompression-bomb "
                                         "guard)")
    formats: list[str] = setting(_formats, factory=lambda: ["jpeg", "png", "webp", "tiff"])
    max_file_bytes: int = setting(byte_size, 200 * 10**6)


@dataclass
class OutputConfig:
    format: str = setting(choice(OUTPUT_FORMATS), "jpg")
    quality: int = setting(integer(1, 100), 92, help="JPEG/WebP quality")
    name_template: str = setting(_template, "{stem}.{style}.{ext}")
    reports: str = setting(choice(REPORT_LAYOUTS), "beside")


@dataclass
class LoggingConfig:
    level: str = setting(_level, "INFO")
    json_file: Path | None = setting(optional(_path), None)
    rotation: str | int = setting(_str_or_int, "50 MB")
    retention: str | int = setting(_str_or_int, 5)


@dataclass
class MetricsConfig:
    textfile: Path | None = setting(optional(_path), None)
    http_port: int | None = setting(optional(integer(0, 65535)), None)
    http_host: str = setting(_text, "127.0.0.1")
    interval_seconds: float = setting(seconds(), 15.0)


@dataclass
class RetentionConfig:
    # Archived originals (state_dir/done, failed) and journal rows of inputs finished longer
    # ago than this are removed by the daemon; None keeps everything. Never the outbox.
    older_than: float | None = setting(optional(duration), None)   # seconds; YAML: 30d
    interval_seconds: float = setting(seconds(), 3600.0)           # how often it checks


@dataclass
class ExecutorConfig:
    """Where renders run: this box's devices (`local`), or every node of a Ray cluster."""
    kind: str = setting(rule(lambda v: v in EXECUTORS or isinstance(v, str)
                             and bool(_DOTTED.fullmatch(v)),
                             f"{choices(EXECUTORS)} or a class as package.module:Class"),
                        "local")
    address: str = setting(_text, "auto")       # ray: the head, "auto" = `ray start` here
    namespace: str = setting(_text, "deepart-batch")
    cpu_actors_per_node: int = setting(integer(0), 0)   # ray: besides one actor per GPU
    cpus_per_actor: float = setting(_positive, 1.0)     # ray: num_cpus (= threads) of each
    discover_seconds: float = setting(seconds(), 10.0)  # ray: how often to look for nodes
    drain_file: Path | None = setting(optional(_path), None)  # default state_dir/drain-nodes
    # local: render once at worker start, before the first job (pool/warming.py);
    # unset = on CUDA (cold kernels, graph captures), off on the CPU (costs more than it saves)
    warm: bool | None = setting(optional(_flag), None)


@dataclass
class ProblemsConfig:
    folder: str = setting(_folder_name, "_problems")  # outbox/<folder>/<campaign>/photo.jpg(.txt)
    hold_seconds: float = setting(seconds(), 30.0)    # a held photo's first wait, then doubling
    hold_max_seconds: float = setting(seconds(), 900.0)


@dataclass
class ApproveConfig:
    folder: str = setting(_folder_name, "_approve")  # outbox/<folder>/preview.jpg -> its print


@dataclass
class Config:
    source: Path                     # the config file, absolute
    inbox: Path = setting(_path)
    outbox: Path = setting(_path)
    state_dir: Path = setting(_path)
    styles_dir: Path = setting(_path)
    manifest: Path = setting(_path)
    # region masks, mirroring the inbox (docs/regions.md); unset: `masks` beside the inbox
    masks_dir: Path | None = setting(optional(_path), None)
    weights: str = setting(_weights, "bundled",   # or the absolute path of a state dict
                           help="bundled (offline Caffe VGG19), torchvision, or a state-dict "
                                "path")
    devices: str | list[str] = setting(_devices, "auto")  # "auto" or like ["cuda:0", "cpu"]
    jobs_per_device: int | str = setting(_jobs_per_device, 1)  # or "auto" (pool/devices.py)
    job_timeout: float = setting(seconds(), 3600.0)
    max_attempts: int = setting(integer(1), 3)
    on_oom: str = setting(choice(ON_OOM), "smaller")
    drain_seconds: float = setting(seconds(positive=False), 300.0)
    # how long a journal write waits out another program's lock (a backup, sqlite3) before
    # the daemon skips that tick and a command says "the journal is busy"
    journal_busy_seconds: float = setting(seconds(), 120.0)
    gallery: bool = setting(_gallery, True)    # outbox/index.html and one page per campaign
    gallery_base_url: str | None = None        # YAML gallery.base_url: pages' address
    cards: bool = setting(_flag, True)         # a style card per painting (outbox/_styles/)
    defaults: dict[str, Any] = field(default_factory=dict)  # raw render params, validated
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    problems: ProblemsConfig = field(default_factory=ProblemsConfig)
    approve: ApproveConfig = field(default_factory=ApproveConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)

    def render_params(self, overrides: dict | None = None) -> RenderParams:
        """defaults + overrides, validated and held to `limits`; ConfigError names the key."""
        params, problems = check_params({**self.defaults, **(overrides or {})}, self.limits)
        if problems:
            raise_problems([f"render parameter {k}: {m}" if k else m for k, m in problems])
        assert params is not None
        return params

    @property
    def masks(self) -> Path:
        """The masks folder: masks_dir, or `masks` beside the inbox (a sibling, so the inbox
        never admits a mask as a photo)."""
        return Path(self.masks_dir) if self.masks_dir is not None else \
            Path(self.inbox).parent / "masks"

    def card_params(self) -> RenderParams:
        """A style card's params: the defaults at min(defaults.size, CARD_MAX_SIZE)."""
        params = self.render_params()
        return replace(params, size=min(params.size, CARD_MAX_SIZE))


_SECTIONS = {f.name: f.default_factory for f in fields(Config) if is_dataclass(f.default_factory)}


def _parse(label: str, source: Path, data: Any) -> tuple[Config | None, list[str]]:
    reader = Reader(label, source.parent)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        reader.error("", f"expected a mapping with inbox, outbox, state_dir, styles_dir and "
                         f"manifest at the top level, got {got}")
        return None, reader.problems
    top = reader.section(data, Config, extra=(*_SECTIONS, "defaults"))
    parts = {n: cls(**reader.section(data.get(n), cls, n)) for n, cls in _SECTIONS.items()}
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        reader.error("defaults", f"expected a mapping of render parameters, got {defaults!r}; "
                                 f"allowed keys: {', '.join(param_names())}")
        defaults = {}
    for key, problem in check_params(defaults, parts["limits"])[1]:
        reader.error(f"defaults.{key}" if key else "defaults", problem)
    _check_overlaps(reader, top)
    reader.problems += [f"{label}: {p}" for p in notify_problems(data.get("notify"))]
    if reader.problems:
        return None, reader.problems
    return Config(source=source, defaults=dict(defaults),
                  gallery_base_url=_gallery_base_url(data.get("gallery")), **top, **parts), []


def _check_overlaps(reader: Reader, top: dict) -> None:
    """Outputs or state inside the inbox would be picked up and restyled again, forever."""
    inbox = Path(os.path.realpath(top.get("inbox") or "/"))
    for key in ("outbox", "state_dir"):
        other = top.get(key)
        real = Path(os.path.realpath(other)) if other and "inbox" in top else None
        if real is not None and (real == inbox or inbox in real.parents):
            reader.error(key, f"{other} is inside the inbox {top['inbox']}; use a folder outside "
                              f"it, or the daemon would pick up its own files")
    masks = top.get("masks_dir")
    real = Path(os.path.realpath(masks)) if masks and "inbox" in top else None
    if real is not None and (real == inbox or inbox in real.parents or real in inbox.parents):
        reader.error("masks_dir", f"{masks} overlaps the inbox {top['inbox']}; use a folder "
                                  f"beside it (the default: masks beside the inbox), or masks "
                                  f"would be taken as photos")


def read_config(path: Path) -> tuple[Config | None, list[str]]:
    """The config, or None, and every problem found, one per line."""
    text, problems = read_file(path, "give the path of a YAML config (see config.example.yaml)")
    if text is None:
        return None, problems
    data, problems = read_yaml(str(path), text)
    if problems:
        return None, problems
    config, problems = _parse(str(path), Path(os.path.abspath(path)), data)
    return config, bounded(problems)


def load_config(path: str | os.PathLike) -> Config:
    """Parse and validate the config; ConfigError lists every problem, one per line."""
    config, problems = read_config(Path(path))
    if config is None:
        raise_problems(problems)
    return config  # type: ignore[return-value]
