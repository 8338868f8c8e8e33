"""configure_logging in real subprocesses: the output format is what journald sees."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LOG_SOME = """
from loguru import logger
from deepart_batch.ops.logsetup import configure_logging
configure_logging(level="DEBUG", **CONFIG)
logger.trace("trace line")
logger.debug("debug line")
logger.info("info line")
logger.success("success line")
logger.warning("warning line")
logger.error("error line")
logger.critical("critical line")
"""

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}")


def run_python(code: str, env_extra: dict[str, str], *, journal_stream: str | None = None) -> str:
    """Run ``code`` and return its stderr.

    With ``journal_stream="match"``, JOURNAL_STREAM is set to the dev:inode
    of the very pipe the child gets as stderr, exactly as systemd does.
    """
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT)
    read_fd, write_fd = os.pipe()
    try:
        if journal_stream == "match":
            st = os.fstat(write_fd)
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        elif journal_stream is not None:
            env["JOURNAL_STREAM"] = journal_stream
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stderr=write_fd, stdout=subprocess.DEVNULL, env=env, cwd=ROOT
        )
        os.close(write_fd)
        write_fd = -1
        with os.fdopen(read_fd, "rb") as fh:
            read_fd = -1
            out = fh.read().decode()
        assert proc.wait(timeout=60) == 0, out
        return out
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)


def script(config: str = "{}") -> str:
    return f"CONFIG = {config}\n" + LOG_SOME


def test_journald_lines_have_priority_prefix_and_no_timestamp():
    err = run_python(script(), {}, journal_stream="match")
    assert err.splitlines() == [
        "<7>debug line",
        "<6>info line",
        "<6>success line",
        "<4>warning line",
        "<3>error line",
        "<2>critical line",
    ]
    assert not TIMESTAMP.search(err)


def test_inherited_journal_stream_that_is_not_our_stderr_is_ignored():
    # e.g. a shell started from a service: JOURNAL_STREAM leaks, stderr is a tty/pipe.
    err = run_python(script(), {}, journal_stream="1:2")
    assert "<6>" not in err
    assert TIMESTAMP.match(err)


def test_journald_forced_without_journal_stream():
    err = run_python(script("{'journald': True}"), {})
    assert err.splitlines()[0] == "<7>debug line"


def test_human_format_has_timestamp_and_level():
    err = run_python(script(), {})
    lines = err.splitlines()
    assert len(lines) == 6
    for line, level in zip(lines, ["DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"], strict=True):
        assert TIMESTAMP.match(line), line
        assert f"| {level}" in line
        assert not line.startswith("<")
    assert lines[1].endswith("info line")


def test_level_filters_lower_records():
    code = script("{'journald': True}").replace('level="DEBUG", ', 'level="WARNING", ')
    assert run_python(code, {}).splitlines() == ["<4>warning line", "<3>error line", "<2>critical line"]


def test_traceback_lines_keep_record_priority():
    code = textwrap.dedent("""
        from loguru import logger
        from deepart_batch.ops.logsetup import configure_logging
        configure_logging(journald=True)
        try:
            1 / 0
        except ZeroDivisionError:
            logger.exception("render crashed")
    """)
    lines = run_python(code, {}).splitlines()
    assert lines[0] == "<3>render crashed"
    assert len(lines) > 2 and all(line.startswith("<3>") for line in lines)
    assert lines[-1] == "<3>ZeroDivisionError: division by zero"


def test_stdlib_logging_and_warnings_are_routed():
    code = textwrap.dedent("""
        import logging, warnings
        from deepart_batch.ops.logsetup import configure_logging
        configure_logging(journald=True)
        logging.getLogger("watchdog.observers").warning("inotify limit")
        logging.getLogger("torch").debug("hidden at INFO")
        warnings.warn("deprecated thing")
    """)
    lines = run_python(code, {}).splitlines()
    assert lines[0] == "<4>inotify limit"
    assert any(line.startswith("<4>") and "deprecated thing" in line for line in lines[1:])
    assert not any("hidden" in line for line in lines)


def test_json_sink_writes_json_lines_with_bound_extras(tmp_path):
    log = tmp_path / "logs" / "deepart.jsonl"
    code = textwrap.dedent(f"""
        from loguru import logger
        from deepart_batch.ops.logsetup import configure_logging
        configure_logging(json_file={str(log)!r}, journald=True)
        logger.bind(job_id="j-17", campaign="spring").info("rendered")
        logger.debug("dropped at INFO")
        logger.warning("slow")
    """)
    run_python(code, {})
    records = [json.loads(line)["record"] for line in log.read_text().splitlines()]
    assert [r["message"] for r in records] == ["rendered", "slow"]
    assert records[0]["extra"] == {"job_id": "j-17", "campaign": "spring"}
    assert records[0]["level"]["name"] == "INFO"
    assert records[1]["level"]["name"] == "WARNING"


WORKER_SCRIPT = """
import multiprocessing, sys
from loguru import logger
from deepart_batch.ops.logsetup import configure_logging, worker_logging

def work(parent_logger):
    worker_logging(parent_logger)
    from loguru import logger as child_logger
    child_logger.bind(job_id="j-9").info("from worker")
    try:
        raise RuntimeError("cuda oom")
    except RuntimeError:
        child_logger.exception("worker failed")

if __name__ == "__main__":
    configure_logging(json_file=sys.argv[1], journald=True)
    proc = multiprocessing.get_context("spawn").Process(target=work, args=(logger,))
    proc.start()
    proc.join()
    assert proc.exitcode == 0
    logger.info("parent done {}", proc.pid)
"""


def test_spawned_worker_logs_through_parent_sinks(tmp_path):
    log = tmp_path / "worker.jsonl"
    path = tmp_path / "worker_script.py"
    path.write_text(WORKER_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("JOURNAL_STREAM", None)
    proc = subprocess.run(
        [sys.executable, str(path), str(log)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.splitlines()
    assert err[0] == "<6>from worker"
    assert err[1] == "<3>worker failed"
    assert "<3>RuntimeError: cuda oom" in err
    records = [json.loads(line)["record"] for line in log.read_text().splitlines()]
    worker, failed, parent = records[0], records[1], records[-1]
    assert worker["message"] == "from worker" and worker["extra"] == {"job_id": "j-9"}
    child_pid = int(parent["message"].split()[-1])
    assert worker["process"]["id"] == child_pid != parent["process"]["id"]
    assert failed["exception"]["type"] == "RuntimeError"
