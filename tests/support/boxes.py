"""One render box: real folders, a config and a manifest; the daemon as a real subprocess
or, with a canned executor, in this process. The one config writer of tests and benchmarks."""

from __future__ import annotations

import gc
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import yaml

from .manifests import DATA, MANIFEST, copy_styles

TESTS = Path(__file__).resolve().parent.parent
CANNED = "support.canned:CannedExecutor"   # executor.kind of an in-process box
CRASH_AT = "DEEPART_TEST_CRASH_AT"         # deepart_batch.testing: os._exit at a point


def config_text(config: dict, sort_keys: bool = True) -> str:
    """A daemon config as YAML text (for a file written elsewhere, e.g. in a namespace)."""
    return yaml.safe_dump(config, sort_keys=sort_keys)


def write_config(path: Path, config: dict, sort_keys: bool = True) -> Path:
    """Write a daemon config as YAML: every test and benchmark writes configs here.
    sort_keys=False keeps the keys in the dict's order (e.g. config.example.yaml's)."""
    path = Path(path)
    path.write_text(config_text(config, sort_keys=sort_keys))
    return path


def merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides`: a dict value is merged one level deep, others replace."""
    config = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def base_config(**overrides) -> dict:
    """A box's config, relative to its root (inbox, outbox, state, styles, manifest.yaml)."""
    return merged({"inbox": "inbox", "outbox": "outbox", "state_dir": "state",
                   "styles_dir": "styles", "manifest": "manifest.yaml",
                   "defaults": {"size": 64, "steps": 4, "log_every": 1},
                   "watch": {"settle_seconds": 0.5, "rescan_seconds": 2, "poll_interval": 0.5},
                   "drain_seconds": 60,
                   "cards": False},   # style cards: on in test_style_cards*.py only
                  overrides)


class Box:
    """One render box in `root`: inbox, outbox, state, styles, config, manifest.
    canned=True: the executor is tests/support/canned.py's, and run_once runs the daemon
    in this process (no interpreter, no worker, no weights)."""

    def __init__(self, root: Path, manifest: str = MANIFEST, canned: bool = False,
                 **overrides):
        self.root = Path(root)
        self.inbox, self.outbox, self.state = root / "inbox", root / "outbox", root / "state"
        self.styles = root / "styles"
        for d in (self.inbox, self.outbox):
            d.mkdir(parents=True, exist_ok=True)
        self.inbox.chmod(0o2775)   # as the README sets it up (validate checks it)
        copy_styles(self.styles)
        self.manifest = root / "manifest.yaml"
        self.manifest.write_text(manifest)
        self.canned = canned
        if canned:
            overrides = merged({"executor": {"kind": CANNED}}, overrides)
        self.config_dict = base_config(**overrides)
        self.config = write_config(root / "config.yaml", self.config_dict)
        path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}

    def rewrite_config(self, **overrides) -> None:
        """Change the config on disk (merged as in the constructor)."""
        self.config_dict = merged(self.config_dict, overrides)
        write_config(self.config, self.config_dict)

    def drop(self, src: str, rel: str) -> Path:
        target = self.inbox / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")   # the way a careful uploader writes
        shutil.copy(DATA / src, tmp)
        os.replace(tmp, target)
        return target

    def cli(self, *args, timeout=300, env=None):
        return subprocess.run([sys.executable, "-m", "deepart_batch.cli", *map(str, args)],
                              capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})})

    def run_once(self, timeout=300, env=None):
        """`run --once`: in this process for a canned box, else a real subprocess. Either
        way a CompletedProcess with returncode, stdout and stderr (logs and summary). A run
        asked to die at a crash point (DEEPART_TEST_CRASH_AT) is always a real process;
        with a canned box it starts no worker."""
        if self.canned and not (env or {}).get(CRASH_AT):
            return run_in_process(["run", "--once", "--config", str(self.config)], env)
        return self.cli("run", "--once", "--config", self.config, timeout=timeout, env=env)

    def start_watch(self, env=None, log_name="watch.log") -> subprocess.Popen:
        self.log = self.root / log_name
        fh = open(self.log, "w")
        return subprocess.Popen([sys.executable, "-m", "deepart_batch.cli", "watch", "--config",
                                 str(self.config)], stdout=fh, stderr=subprocess.STDOUT,
                                env={**self.env, **(env or {})}, start_new_session=True)

    def outputs(self, pattern="**/*.jpg"):
        """Renders in the outbox: not the gallery's thumbnails (hidden .gallery/ folders) nor
        the copies of problem photos in _problems/."""
        rels = (p.relative_to(self.outbox) for p in self.outbox.glob(pattern))
        return sorted(r.as_posix() for r in rels
                      if not any(x.startswith(".") for x in r.parts) and r.parts[0] != "_problems")

    def status(self):
        if self.canned:
            res = run_in_process(["status", "--config", str(self.config), "--json"])
        else:
            res = self.cli("status", "--config", self.config, "--json", timeout=60)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    def temp_files(self):
        return [p for p in self.outbox.rglob(".*") if p.is_file()]


@contextmanager
def like_a_process(env: dict | None = None):
    """Run the daemon or a command in this process and leave it as a process's exit
    would: the environment (with `env` added meanwhile), the signal handlers and the log
    sinks back as they were, and every box lock it took released."""
    from loguru import logger

    from deepart_batch.daemon import compose
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    locks, take_lock = [], compose.take_lock

    def recorded(*args, **kwargs):
        fh = take_lock(*args, **kwargs)
        locks.append(fh)
        return fh

    compose.take_lock = recorded
    try:
        with mock.patch.dict(os.environ, {k: str(v) for k, v in (env or {}).items()}):
            yield
    finally:
        compose.take_lock = take_lock
        logger.remove()   # the CLI's sinks write to captured streams: back to a default
        logger.add(lambda message: sys.stderr.write(message), level="DEBUG")
        for fh in locks:
            fh.close()
        gc.collect()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def run_in_process(argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    """The CLI's main() in this process, as a subprocess would run it: its stdout and
    stderr (loguru's sinks included) captured."""
    from loguru import logger

    from deepart_batch.cli import main
    out, err = io.StringIO(), io.StringIO()
    with like_a_process(env), redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        logger.complete()
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def wait_for(predicate, timeout=120, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout=90) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    return proc.wait(timeout=timeout)


def watch_in_process(box: Box, until, timeout: float = 60) -> None:
    """`watch` on a canned box, in this process, until `until()` is true (checked from
    another thread: it must look at files or open its own journal reader), then stopped as
    SIGTERM stops it. Raises if `until` never came true."""
    import threading

    from deepart_batch.daemon.compose import compose
    from deepart_batch.settings.config import load_config
    assert box.canned, "watch_in_process runs the canned executor only"
    failure: list[BaseException] = []
    with like_a_process():
        service = compose(load_config(box.config))

        def stop_when_done():
            try:
                wait_for(until, timeout=timeout, what="the watched condition")
            except BaseException as exc:   # re-raised in the test's thread
                failure.append(exc)
            finally:
                service.request_stop()

        thread = threading.Thread(target=stop_when_done, daemon=True)
        thread.start()
        try:
            service.run()
        finally:
            service.request_stop()
            thread.join(timeout=timeout + 10)
    if failure:
        raise failure[0]
