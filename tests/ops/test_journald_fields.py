"""Under systemd, log records reach journald as entries with fields (ops/journald.py): the
native protocol, read back here from a stand-in socket. (The real journald, filtered with
`journalctl PHOTO=...`: tests/scenarios/test_systemd_service.py.)"""

from __future__ import annotations

import array
import os
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

from support.notify_socket import NotifyListener

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    from loguru import logger
    from deepart_batch.ops.logsetup import configure_logging
    configure_logging("DEBUG", enqueue=False)
    with logger.contextualize(photo="city/x.jpg", campaign="city", job=7):
        logger.bind(reason="oom").warning("job 7 ran out of memory: queued again")
        try:
            1 / 0
        except ZeroDivisionError:
            logger.exception("render crashed")
    logger.info("plain")
    logger.debug("big " + "x" * 300000)
""")


def parse(data: bytes) -> dict[str, str]:
    fields, i = {}, 0
    while i < len(data):
        line_end = data.index(b"\n", i)
        head = data[i:line_end]
        if b"=" in head:
            name, value = head.split(b"=", 1)
            i = line_end + 1
        else:
            name = head
            size = struct.unpack("<Q", data[line_end + 1:line_end + 9])[0]
            value = data[line_end + 9:line_end + 9 + size]
            i = line_end + 9 + size + 1
        fields[name.decode()] = value.decode()
    return fields


def receive(sock: socket.socket) -> bytes:
    fds = array.array("i")
    data, ancdata, _flags, _addr = sock.recvmsg(1 << 20, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fd = array.array("i", payload[:fds.itemsize])[0]
            with os.fdopen(fd, "rb") as fh:            # an entry too big for one datagram
                return fh.read()
    return data


def test_records_are_journal_entries_with_context_fields(tmp_path):
    path = str(tmp_path / "journal.socket")
    listener = NotifyListener(path, timeout=5, rcvbuf=4 << 20)   # journald's stand-in
    read_fd, write_fd = os.pipe()         # stderr, and JOURNAL_STREAM naming it, as systemd
    st = os.fstat(write_fd)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DEEPART_TEST_JOURNAL_SOCKET": path,
           "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], stderr=write_fd, env=env,
                          timeout=120)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        stderr = fh.read().decode()
    assert proc.returncode == 0, stderr
    assert stderr == "", stderr           # everything went to the journal socket
    entries = [parse(receive(listener.sock)) for _ in range(4)]
    listener.close()
    oom, crash, plain, big = entries
    assert oom["MESSAGE"] == "[city/x.jpg] job 7 ran out of memory: queued again"
    assert (oom["PRIORITY"], oom["PHOTO"], oom["CAMPAIGN"], oom["JOB"], oom["REASON"]) == \
        ("4", "city/x.jpg", "city", "7", "oom")
    assert oom["SYSLOG_IDENTIFIER"] == "deepart-batch" and oom["CODE_LINE"].isdigit()
    assert crash["PRIORITY"] == "3" and crash["PHOTO"] == "city/x.jpg"
    assert crash["MESSAGE"].startswith("[city/x.jpg, job 7] render crashed\nTraceback")
    assert crash["MESSAGE"].endswith("ZeroDivisionError: division by zero")
    assert "REASON" not in crash
    assert plain["MESSAGE"] == "plain" and plain["PRIORITY"] == "6"
    assert not {"PHOTO", "CAMPAIGN", "JOB", "REASON"} & set(plain)
    assert big["PRIORITY"] == "7" and big["MESSAGE"].startswith("big xxx")


def test_without_the_journal_socket_lines_fall_back_to_stderr(tmp_path):
    read_fd, write_fd = os.pipe()
    st = os.fstat(write_fd)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}",
           "DEEPART_TEST_JOURNAL_SOCKET": str(tmp_path / "no-journald-here")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT.replace('"x" * 300000', '"x"')],
                          stderr=write_fd, env=env, timeout=120)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        lines = fh.read().decode().splitlines()
    assert proc.returncode == 0
    assert lines[0] == "<4>[city/x.jpg] job 7 ran out of memory: queued again"
    assert "<6>plain" in lines


def test_a_name_with_control_characters_is_escaped_in_message_and_exact_in_photo(tmp_path):
    path = str(tmp_path / "journal.socket")
    listener = NotifyListener(path, timeout=5)
    read_fd, write_fd = os.pipe()
    st = os.fstat(write_fd)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DEEPART_TEST_JOURNAL_SOCKET": path,
           "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
    script = textwrap.dedent("""
        from loguru import logger
        from deepart_batch.ops.logsetup import configure_logging
        configure_logging("INFO", enqueue=False)
        name = "city/\\x1b]0;owned\\x07x\\x7f.jpg"
        with logger.contextualize(photo=name, job=7):
            logger.warning("job 7 failed")
        logger.info("took {}", name)
    """)
    proc = subprocess.run([sys.executable, "-c", script], stderr=write_fd, env=env,
                          timeout=120)
    os.close(write_fd)
    os.close(read_fd)
    assert proc.returncode == 0
    about, took = (parse(receive(listener.sock)) for _ in range(2))
    listener.close()
    assert about["MESSAGE"] == "[city/\\033]0;owned\\ax\\177.jpg] job 7 failed"
    assert about["PHOTO"] == "city/\x1b]0;owned\x07x\x7f.jpg"     # exact, for journalctl PHOTO=
    assert took["MESSAGE"] == "took city/\\033]0;owned\\ax\\177.jpg"
