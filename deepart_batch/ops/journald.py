"""Log records to the systemd journal as entries with fields, over journald's native protocol.

Under systemd (stderr is the unit's journal stream, see logsetup.stderr_is_journal) every
record becomes one journal entry with MESSAGE, PRIORITY (from the level), SYSLOG_IDENTIFIER,
CODE_FILE/CODE_LINE/CODE_FUNC and, when the record is about one, PHOTO, CAMPAIGN, JOB and
REASON (loguru `extra`, set by daemon.logcontext and by the failure and hold lines). So
``journalctl -u deepart-batch PHOTO=city/x.jpg`` is one photo's story, and
``journalctl -u deepart-batch REASON=oom -p warning`` every out-of-memory retry.

Why the protocol here and not a library:

- systemd-python (the systemd project's binding, ``systemd.journal.send``) is built from
  source against libsystemd's headers: ``pip install .`` on a render box would need a C
  compiler and libsystemd-dev. cysystemd links libsystemd the same way.
- The pure-python packages on PyPI are a stdlib ``logging`` handler (logging-journald) or a
  thin young sender (journald-send); either is one more pinned dependency, for the service's
  venv and the shared test venv, to replace the fifty lines below.
- The protocol is small, stable since systemd 38 and documented
  (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/): one AF_UNIX datagram to
  /run/systemd/journal/socket holding ``KEY=value\\n`` fields; a value with a newline is
  ``KEY\\n``, its length as a little-endian uint64, the bytes, ``\\n``; an entry too large for
  one datagram goes as a sealed memfd passed with SCM_RIGHTS.

When the socket cannot be reached the line goes to stderr with its ``<N>`` priority prefix,
as before, so a record is never lost for the journal's sake.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import socket
import struct
import sys
import threading

__all__ = ["JOURNAL_SOCKET", "CONTEXT_FIELDS", "JournalSink", "encode_fields", "journal_priority"]

JOURNAL_SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "deepart-batch"
# loguru extra key -> journal field
CONTEXT_FIELDS = {"photo": "PHOTO", "campaign": "CAMPAIGN", "job": "JOB", "reason": "REASON"}
_FIELD_NAME = re.compile(r"[A-Z0-9][A-Z0-9_]*")
_SEALS = (getattr(fcntl, "F_SEAL_SHRINK", 2) | getattr(fcntl, "F_SEAL_GROW", 4)
          | getattr(fcntl, "F_SEAL_WRITE", 8) | getattr(fcntl, "F_SEAL_SEAL", 1))


def journal_priority(levelno: int) -> int:
    """Syslog priority for a loguru level number; custom levels fall in between."""
    if levelno >= 50:
        return 2  # CRITICAL -> crit
    if levelno >= 40:
        return 3  # ERROR -> err
    if levelno >= 30:
        return 4  # WARNING -> warning
    if levelno >= 20:
        return 6  # INFO, SUCCESS -> info
    return 7  # DEBUG, TRACE -> debug


def encode_fields(fields: dict[str, object]) -> bytes:
    """The native protocol's encoding of one entry (empty values and bad names left out)."""
    out = bytearray()
    for name, value in fields.items():
        if value is None or value == "" or not _FIELD_NAME.fullmatch(name):
            continue
        data = str(value).encode("utf-8", "replace")
        if b"\n" in data:
            out += name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalSink:
    """A loguru sink: each record one journal entry; stderr when the journal is away."""

    def __init__(self, path: str = JOURNAL_SOCKET, identifier: str = IDENTIFIER):
        self.path = path
        self.identifier = identifier
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def __call__(self, message) -> None:
        record = message.record
        priority = journal_priority(record["level"].no)
        text = str(message).rstrip("\n")
        fields: dict[str, object] = {
            "MESSAGE": text, "PRIORITY": priority, "SYSLOG_IDENTIFIER": self.identifier,
            "CODE_FILE": record["file"].path, "CODE_LINE": record["line"],
            "CODE_FUNC": record["function"]}
        extra = record["extra"]
        for key, name in CONTEXT_FIELDS.items():
            value = extra.get(key)
            fields[name] = getattr(value, "value", value)    # enums by their value
        try:
            self.send(encode_fields(fields))
        except OSError:
            lines = text.splitlines() or [""]
            sys.stderr.write("".join(f"<{priority}>{line}\n" for line in lines))
            sys.stderr.flush()

    def send(self, data: bytes) -> None:
        with self._lock:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
                self._sock = sock
            try:
                self._sock.sendto(data, self.path)
            except OSError as exc:
                if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                    raise
                self._send_memfd(data)

    def _send_memfd(self, data: bytes) -> None:
        fd = os.memfd_create("deepart-journal-entry", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.write(fd, data)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
            self._sock.sendmsg([], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                     struct.pack("i", fd))], 0, self.path)
        finally:
            os.close(fd)

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
