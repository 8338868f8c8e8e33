"""Test-only switches, read here and nowhere else.

The recovery tests drive production code through environment variables; this module is the
one place that reads them, so a grep for DEEPART_ outside it finds no test hook, and each
switch is documented once. None of them is meant for production: unset (always, outside the
tests) each costs one dictionary lookup. No torch here: the daemon parent asks too.

DEEPART_TEST_CRASH_AT=<point>
    os._exit at a named point of the daemon (daemon/faultpoints.POINTS), as kill -9 would.
DEEPART_TEST_DISK_FULL=<flag file>
    while the flag file exists, atomic writes under its folder fail with ENOSPC (for
    filesystems that cannot be made full; paths.atomic_write_bytes).
DEEPART_TEST_STOP_OBSERVER_AFTER=<seconds>
    the daemon stops its own inbox observer after this long, to prove the watchdog notices.
DEEPART_FAKE_CUDA_COUNT=<n>
    the CUDA device count the worker planning sees (pool/devices.py); only the count.
DEEPART_INJECT_FAULT=kind[@attempts][:match]
    render workers fail on purpose (pool/faults.py): kind is oom (out-of-memory once per
    attempt), crash (os._exit mid-job) or hang (sleep); attempts a comma list of attempt
    numbers (default: every attempt); match only jobs whose inbox path contains this text.
    slow_start makes every worker take SLOW_START_SECONDS more to start (weights loading
    on a slow box), after it said hello. untaken makes a ready worker hang when it is
    given a matching job, before it says it began it (as a stopped worker would).
    Example: "crash@1:tubingen" kills the worker during the first attempt of tubingen's jobs.
DEEPART_TEST_JOURNAL_SOCKET=<path>
    the datagram socket log entries go to under systemd, instead of journald's own
    (ops/journald.py), so a test can read the fields without a journald.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

CRASH_AT = "DEEPART_TEST_CRASH_AT"
DISK_FULL = "DEEPART_TEST_DISK_FULL"
STOP_OBSERVER_AFTER = "DEEPART_TEST_STOP_OBSERVER_AFTER"
FAKE_CUDA_COUNT = "DEEPART_FAKE_CUDA_COUNT"
INJECT_FAULT = "DEEPART_INJECT_FAULT"
JOURNAL_SOCKET = "DEEPART_TEST_JOURNAL_SOCKET"
SWITCHES = (CRASH_AT, DISK_FULL, STOP_OBSERVER_AFTER, FAKE_CUDA_COUNT, INJECT_FAULT,
            JOURNAL_SOCKET)
FAULT_KINDS = ("oom", "crash", "hang", "slow_start", "untaken")


def crash_point_enabled(name: str) -> bool:
    """Whether the test asked the process to die at this named point."""
    return os.environ.get(CRASH_AT) == name


def disk_full_flag() -> str | None:
    """The flag file whose existence makes writes under its folder fail; None: off."""
    return os.environ.get(DISK_FULL) or None


def stop_observer_after() -> float | None:
    """Seconds after start at which the daemon stops its own observer; None: never."""
    value = os.environ.get(STOP_OBSERVER_AFTER)
    return float(value) if value else None


def journal_socket() -> str | None:
    """A test's stand-in for journald's native socket; None: the real one."""
    return os.environ.get(JOURNAL_SOCKET) or None


def fake_cuda_count() -> int | None:
    """The stubbed CUDA device count; None: ask torch."""
    value = os.environ.get(FAKE_CUDA_COUNT)
    return None if value is None else int(value)


@dataclass
class Fault:
    """One injected worker fault (see DEEPART_INJECT_FAULT above)."""
    kind: str
    attempts: set[int] | None
    match: str

    def applies(self, attempt: int, photo: str) -> bool:
        """`photo`: the inbox path people gave it (work files have internal names)."""
        return (self.attempts is None or attempt in self.attempts) and self.match in photo


def injected_fault_text() -> str:
    """The raw DEEPART_INJECT_FAULT value, to hand to workers in other processes or
    machines (Ray actors do not inherit the daemon's environment); "" when unset."""
    return os.environ.get(INJECT_FAULT, "").strip()


def parse_fault(text: str) -> Fault | None:
    """kind[@attempts][:match] -> Fault; None for ""; ValueError for an unknown kind."""
    text = (text or "").strip()
    if not text:
        return None
    head, _, match = text.partition(":")
    kind, _, attempts = head.partition("@")
    if kind not in FAULT_KINDS:
        raise ValueError(f"{INJECT_FAULT}: unknown fault {kind!r}")
    nums = {int(a) for a in attempts.split(",") if a} if attempts else None
    return Fault(kind, nums, match)


def injected_fault(text: str | None = None) -> Fault | None:
    """The fault this process should inject: from `text` when given (a Ray actor gets the
    daemon's value), else from this process's environment."""
    return parse_fault(injected_fault_text() if text is None else text)
