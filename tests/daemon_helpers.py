"""Real directories, a real config and manifest, and the daemon as a real subprocess."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

DATA = Path(__file__).parent / "data"

MANIFEST = """
styles:
  starry: {image: starry_night.jpg}
  scream: {image: the_scream.jpg}
rules:
  - match: "city/**"
    outputs:
      - {styles: [starry]}
      - {styles: {starry: 0.7, scream: 0.3}}
  - match: "**"
    outputs: [{style: scream}]
"""


class Box:
    """One render box in tmp_path: inbox, outbox, state, styles, config, manifest."""

    def __init__(self, root: Path, manifest: str = MANIFEST, **overrides):
        self.root = root
        self.inbox, self.outbox, self.state = root / "inbox", root / "outbox", root / "state"
        self.styles = root / "styles"
        for d in (self.inbox, self.outbox, self.styles):
            d.mkdir(parents=True, exist_ok=True)
        self.inbox.chmod(0o2775)   # as the README sets it up (validate checks it)
        for name in ("starry_night.jpg", "the_scream.jpg"):
            shutil.copy(DATA / name, self.styles / name)
        self.manifest = root / "manifest.yaml"
        self.manifest.write_text(manifest)
        config = {"inbox": "inbox", "outbox": "outbox", "state_dir": "state",
                  "styles_dir": "styles", "manifest": "manifest.yaml",
                  "defaults": {"size": 64, "steps": 4, "log_every": 1},
                  "watch": {"settle_seconds": 0.5, "rescan_seconds": 2, "poll_interval": 0.5},
                  "drain_seconds": 60}
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {**config[key], **value}
            else:
                config[key] = value
        self.config = root / "config.yaml"
        self.config.write_text(yaml.safe_dump(config))
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}

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
        res = self.cli("status", "--config", self.config, "--json", timeout=60)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    def temp_files(self):
        return [p for p in self.outbox.rglob(".*") if p.is_file()]


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
