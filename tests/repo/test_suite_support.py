"""The suite's own seams: the dotted-path executor kind, the canned executor, the render
cache and the box's in-process run."""

import pytest

from deepart_batch.core.states import FailureReason
from deepart_batch.errors import ConfigError
from deepart_batch.pool.executor import (EventKind, Executor, PoolJob, executor_class,
                                         make_executor)
from deepart_batch.settings.config import load_config
from support import canned
from support.boxes import CANNED, Box, write_config
from support.jobs import toy_spec
from support.manifests import ONE_STYLE
from support.renders import RenderCache


def _config(tmp_path, kind):
    return write_config(tmp_path / "c.yaml", {"inbox": "in", "outbox": "out",
                                               "state_dir": "state", "styles_dir": "styles",
                                               "manifest": "m.yaml", "executor": {"kind": kind}})


@pytest.mark.parametrize("kind", [CANNED, "support.canned.CannedExecutor"])
def test_executor_kind_takes_a_dotted_class_path(tmp_path, kind):
    config = load_config(_config(tmp_path, kind))
    assert config.executor.kind == kind
    executor = make_executor(config)
    assert isinstance(executor, canned.CannedExecutor) and isinstance(executor, Executor)
    missing = [n for n in dir(Executor) if not n.startswith("_") and callable(getattr(
        Executor, n)) and not callable(getattr(executor, n, None))]
    assert not missing, f"the canned executor lacks {missing} of the Executor protocol"
    assert executor_class("local").__name__ == "DevicePool"


def test_a_bad_executor_kind_is_one_line_naming_the_key(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, "no such thing"))
    assert "executor.kind" in str(info.value) and "package.module:Class" in str(info.value)
    config = load_config(_config(tmp_path, "support.canned:Nowhere"))
    with pytest.raises(ConfigError, match="cannot import Nowhere from support.canned"):
        make_executor(config)


@pytest.mark.parametrize("outcome,kind,reason", [
    ("crashed", EventKind.CRASHED, FailureReason.CRASHED),
    ("timeout", EventKind.TIMEOUT, FailureReason.TIMEOUT),
    ("lost", EventKind.LOST, FailureReason.CRASHED),
    ("failed", EventKind.FAILED, FailureReason.ERROR),
    ("oom", EventKind.FAILED, FailureReason.OOM)])
def test_canned_executor_answers_scripted_events(outcome, kind, reason):
    ex = canned.CannedExecutor()
    with canned.script(outcome, attempts=[1], match="x.jpg"):
        ex.assign("cpu#0", PoolJob(7, 1, toy_spec("/work/x.jpg", params={"size": 32})))
        assert ex.running_jobs() == [7] and not ex.slots()[0].idle
        [event] = ex.poll(0)
    assert (event.kind, event.job_id, event.reason) == (kind, 7, reason)
    assert ex.slots()[0].idle and ex.running_jobs() == []


def test_render_cache_renders_each_parameter_set_once():
    class Engine:
        calls = 0

        def render(self, content, styles, params):
            Engine.calls += 1
            return object()

    class Params:
        def __init__(self, **d):
            self.d = d

        def to_dict(self):
            return self.d

    class Style:
        image, weight = object(), 1.0

    cache, photo, style = RenderCache(Engine()), object(), Style()
    first = cache(photo, [style], Params(size=32))
    assert cache(photo, [style], Params(size=32)) is first and Engine.calls == 1
    assert cache(photo, [style], Params(size=64)) is not first and Engine.calls == 2


def test_an_in_process_run_releases_its_lock_and_signal_handlers(tmp_path):
    import signal
    box = Box(tmp_path, ONE_STYLE, canned=True)
    before = signal.getsignal(signal.SIGTERM)
    for _ in range(2):   # a second run would find the state_dir locked otherwise
        res = box.run_once()
        assert res.returncode == 0, res.stderr[-2000:]
        assert "inputs done       0" in res.stderr
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("ci,codes,says", [("", (0, 5), "1 skipped"),   # 5: nothing else ran
                                            ("1", (1, 2), "CI is set")])
def test_ray_tests_skip_without_ray_and_fail_in_ci(tmp_path, ci, codes, says):
    import os
    import subprocess
    import sys
    from pathlib import Path
    tests = Path(__file__).resolve().parents[1]
    script = ("import sys, pytest\nsys.modules['ray'] = None   # as if ray were not installed\n"
              f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '--rootdir', "
              f"{str(tests.parent)!r}, {str(tests / 'pool' / 'test_ray_executor.py')!r}]))\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update({"CI": ci} if ci else {})
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=120, cwd=tests.parent)
    assert res.returncode in codes and says in res.stdout, res.stdout[-2000:]
