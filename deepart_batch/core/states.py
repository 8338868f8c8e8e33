"""States, failure reasons and event kinds: the daemon's vocabulary, in one place.

Strings from these enums are what the journal stores, what `status --json` and the
Prometheus labels show and what webhooks carry, so their values are stable: add members,
never rename them. Each FailureReason says whose trouble it is (the photo's, the setup's or
the render's); its plain-language message for the team is in core/state_texts.py.
"""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"    # a duplicate waiting for an identical job's render
    HELD = "held"          # setup trouble: waits, and is queued again with backoff
    DONE = "done"
    FAILED = "failed"
    RETRIED = "retried"    # a failed job put back by `retry`: history, no longer counted

    def __str__(self) -> str:
        return self.value


class InputState(str, Enum):
    CLAIMING = "claiming"  # the journal knows; the move into work/ may not have happened
    CLAIMED = "claimed"    # in work/, jobs planned
    HELD = "held"          # in work/, no jobs yet: the setup (manifest, styles) is not ready
    DONE = "done"
    FAILED = "failed"
    RETRIED = "retried"

    def __str__(self) -> str:
        return self.value


# Allowed transitions; anything else is a bug and raises InvalidTransition. `None` is the
# start (a new row).
JOB_TRANSITIONS: dict[JobState | None, frozenset[JobState]] = {
    None: frozenset({JobState.QUEUED, JobState.WAITING, JobState.DONE, JobState.FAILED,
                     JobState.HELD}),
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.FAILED, JobState.HELD}),
    JobState.RUNNING: frozenset({JobState.DONE, JobState.FAILED, JobState.QUEUED,
                                 JobState.HELD}),
    JobState.WAITING: frozenset({JobState.DONE, JobState.FAILED, JobState.QUEUED}),
    JobState.HELD: frozenset({JobState.QUEUED, JobState.FAILED}),
    JobState.DONE: frozenset(),
    JobState.FAILED: frozenset({JobState.RETRIED}),
    JobState.RETRIED: frozenset(),
}
INPUT_TRANSITIONS: dict[InputState | None, frozenset[InputState]] = {
    None: frozenset({InputState.CLAIMING}),
    InputState.CLAIMING: frozenset({InputState.CLAIMED, InputState.FAILED}),
    InputState.CLAIMED: frozenset({InputState.HELD, InputState.DONE, InputState.FAILED}),
    InputState.HELD: frozenset({InputState.CLAIMED, InputState.HELD, InputState.FAILED}),
    InputState.DONE: frozenset(),
    InputState.FAILED: frozenset({InputState.RETRIED}),
    InputState.RETRIED: frozenset(),
}
ACTIVE_JOB_STATES = (JobState.QUEUED, JobState.RUNNING, JobState.WAITING, JobState.HELD)


class InvalidTransition(RuntimeError):
    pass


def check_transition(table: dict, kind: str, ident, current, target) -> None:
    """Raise unless `current -> target` is in `table` (current None: a new row)."""
    if target not in table.get(current, frozenset()):
        raise InvalidTransition(f"{kind} {ident}: {current} -> {target} is not allowed")


class Category(str, Enum):
    PHOTO = "photo"     # the file itself: failed/, fix the photo and drop it again
    SETUP = "setup"     # the render box or the manifest: held, retried by itself
    RENDER = "render"   # the render went wrong: retried up to max_attempts, then failed

    def __str__(self) -> str:
        return self.value


class FailureReason(str, Enum):
    # the photo itself
    UNREADABLE = "unreadable"
    EMPTY = "empty"
    TOO_BIG = "too_big"
    TOO_MANY_PIXELS = "too_many_pixels"
    TOO_SMALL = "too_small"
    FORMAT = "format"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    NOT_REGULAR = "not_regular"
    BAD_NAME = "bad_name"
    RESERVED_NAME = "reserved_name"
    IMAGE = "image"
    MASK_INVALID = "mask_invalid"       # its mask in masks/: not an image, framed unlike it
    # the setup
    STYLE_MISSING = "style_missing"
    NO_RULE = "no_rule"
    MANIFEST_INVALID = "manifest_invalid"
    OUTBOX_UNWRITABLE = "outbox_unwritable"
    DISK_FULL = "disk_full"
    NO_DEVICE = "no_device"
    INBOX_PERMISSIONS = "inbox_permissions"
    FOLDER_MISSING = "folder_missing"   # the outbox, inbox or state_dir vanished or moved
    MASK_MISSING = "mask_missing"       # its rule requires a mask: waits for it in masks/
    # the render
    OOM = "oom"
    CRASHED = "crashed"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    TOO_LARGE = "too_large"
    UNSAFE_PATH = "unsafe_path"
    INPUT_LOST = "input_lost"
    APPROVAL_INVALID = "approval_invalid"   # outbox/_approve/: no such preview
    STYLE_UNREADABLE = "style_unreadable"   # a painting in styles_dir: no card
    ERROR = "error"

    def __str__(self) -> str:
        return self.value

    @property
    def category(self) -> Category:
        """Whose trouble it is: the photo's, the setup's or the render's."""
        return CATEGORIES[self]

    @classmethod
    def parse(cls, value) -> "FailureReason":
        """Any stored or reported reason (also older free-text ones) as a member; unknown
        ones are ERROR, so labels and counts stay within the enum."""
        if isinstance(value, cls):
            return value
        text = str(value or "").strip().lower()
        try:
            return cls(text)
        except ValueError:
            return LEGACY.get(text, cls.ERROR)

R = FailureReason
# Whose trouble each reason is (policy.decide reads it); every reason is in one group.
CATEGORIES: dict[FailureReason, Category] = {
    **dict.fromkeys((R.UNREADABLE, R.EMPTY, R.TOO_BIG, R.TOO_MANY_PIXELS, R.TOO_SMALL,
                     R.FORMAT, R.SYMLINK, R.HARDLINK, R.NOT_REGULAR, R.BAD_NAME,
                     R.RESERVED_NAME, R.IMAGE, R.MASK_INVALID, R.APPROVAL_INVALID,
                     R.STYLE_UNREADABLE),
                    Category.PHOTO),
    **dict.fromkeys((R.STYLE_MISSING, R.NO_RULE, R.MANIFEST_INVALID, R.OUTBOX_UNWRITABLE,
                     R.DISK_FULL, R.NO_DEVICE, R.INBOX_PERMISSIONS, R.FOLDER_MISSING,
                     R.MASK_MISSING),
                    Category.SETUP),
    **dict.fromkeys((R.OOM, R.CRASHED, R.TIMEOUT, R.INTERRUPTED, R.TOO_LARGE,
                     R.UNSAFE_PATH, R.INPUT_LOST, R.ERROR), Category.RENDER),
}
del R

# Reasons written by earlier versions (journal rows, worker events) and their members.
LEGACY = {"pixels": FailureReason.TOO_MANY_PIXELS, "input": FailureReason.IMAGE,
          "manifest": FailureReason.MANIFEST_INVALID, "outbox": FailureReason.OUTBOX_UNWRITABLE,
          "crash": FailureReason.CRASHED, "enospc": FailureReason.DISK_FULL,
          "outbox_full": FailureReason.DISK_FULL, "missing": FailureReason.INPUT_LOST,
          "lost": FailureReason.CRASHED}   # a Ray node left mid-job: render it again


class DaemonEvent(str, Enum):
    """What the service announces on its event bus (daemon/events.py). The photo events
    and PASS_FINISHED are also what notifications carry (NOTICES, config notify.events)."""
    STARTED = "started"            # recovery done, the loop starts
    READY = "ready"                # every render slot is up
    TICK = "tick"                  # one pass of the loop (also while draining)
    PHOTO_TAKEN = "taken"          # claimed from the inbox into work/
    PHOTO_DONE = "done"            # a photo's renders are all in the outbox
    PHOTO_FAILED = "failed"        # a photo went to failed/
    PHOTO_HELD = "held"            # a photo waits for the setup to be fixed
    PHOTO_RELEASED = "released"    # a held photo goes on: the cause of its hold went away
    PRINT_READY = "print_ready"    # an approval's print-size render is in the outbox
    CARD_READY = "card_ready"      # a painting's style card is in outbox/_styles/
    JOB_DONE = "job_done"          # one render published
    JOB_FAILED = "job_failed"      # one render given up
    JOB_RETRIED = "job_retried"    # one render queued again after a crash or timeout
    PASS_FINISHED = "pass_finished"  # a `run --once` bulk pass ended
    STOPPING = "stopping"          # a stop was requested: draining
    STOPPED = "stopped"            # the loop ended; the executor is shut down
    FOLDER_MISSING = "folder_missing"  # the inbox, outbox or state_dir vanished or moved
    FOLDER_BACK = "folder_back"    # it is back (or the inbox was replaced): work resumes
    NOTIFY_TEST = "notify_test"    # `notify test`: sent to each endpoint, never on the bus

    def __str__(self) -> str:
        return self.value


class DeliveryStatus(str, Enum):
    """How one notification message to one endpoint ended (the journal's delivery log)."""
    DELIVERED = "delivered"        # the endpoint took it (2xx, or the command exited 0)
    FAILED = "failed"              # every try failed: refused, no answer, or an error
    CUT = "cut"                    # the daemon stopped before a try could end

    def __str__(self) -> str:
        return self.value


class EventKind(str, Enum):
    """Every message a worker sends and every event an executor reports (pool/events.py:
    one dataclass each)."""
    HELLO = "hello"          # a slot is up and warming (worker -> executor only)
    READY = "ready"          # warmed: takes jobs from now
    STARTED = "started"      # the worker, warmed up, began the job (worker -> executor only)
    PROGRESS = "progress"
    EVENT = "event"          # something the render survived (an OOM retried smaller)
    DONE = "done"
    FAILED = "failed"        # the render itself failed
    CRASHED = "crashed"      # the worker process or actor died mid-job
    TIMEOUT = "timeout"      # the job passed job_timeout; its worker was killed
    LOST = "lost"            # the node running the job left the cluster
    OUTBOX = "outbox"        # the daemon could not publish a finished render

    @property
    def retryable(self) -> bool:
        """Not the job's fault: render it again, counting the attempt."""
        return self in (EventKind.CRASHED, EventKind.TIMEOUT, EventKind.LOST, EventKind.OUTBOX)

    def __str__(self) -> str:
        return self.value


class SlotState(str, Enum):
    STARTING = "starting"    # spawned, not said hello yet (interpreter, torch import)
    WARMING = "warming"      # said hello: weights, trunks and warming before its first job
    IDLE = "idle"
    BUSY = "busy"
    DRAINING = "draining"    # on a node being drained: finishes its job, takes no new one

    def __str__(self) -> str:
        return self.value


class ShownState(str, Enum):
    """What the gallery pages show of an image, a photo or a style card: the journal's
    states in the team's words (a running job is `rendering`, a finished photo `rendered`)."""
    DONE = "done"
    RENDERING = "rendering"
    QUEUED = "queued"
    WAITING = "waiting"
    HELD = "held"
    FAILED = "failed"
    RENDERED = "rendered"    # a photo whose images are all done
    MISSING = "missing"      # a style card not made (yet)
    PROBLEM = "problem"      # a painting no card can be made from
    NONE = "none"            # a painting with no card photos
    RETRIED = "retried"      # history: a failed job put back by `retry`

    def __str__(self) -> str:
        return self.value


class PrintState(str, Enum):
    """Where a preview's approval stands, as its gallery card says it (gallery/prints.py)."""
    APPROVED = "approved"    # taken; its print job waits for a slot
    RENDERING = "rendering"
    READY = "ready"          # the print is in the outbox
    REFUSED = "refused"      # the approval was refused before a print job was planned
    HELD = "held"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


class PassOutcome(str, Enum):
    """How a `run --once` bulk pass ended; each has its own exit code (daemon/admin/bulk_pass.py)."""
    DONE = "done"                  # everything present was rendered
    SOME_FAILED = "some_failed"    # some photos or renders failed (failed/, _problems/)
    HELD_OR_LEFT = "held_or_left"  # some photos wait for the setup or were not taken
    STOPPED = "stopped"            # SIGTERM before the end: renders left queued

    def __str__(self) -> str:
        return self.value


class RunMode(str, Enum):
    """How the box runs, as its lock file says (`PID ROLE`, daemon/lock.py): what a page can
    promise the team depends on it (style cards are made by `watch` only)."""
    DAEMON = "daemon"              # `watch`, the systemd service
    BULK = "bulk"                  # `run --once`, a bulk pass (the nightly timer)

    @classmethod
    def parse(cls, value) -> "RunMode | None":
        try:
            return cls(value)
        except ValueError:
            return None

    def __str__(self) -> str:
        return self.value


NOTICES = frozenset({DaemonEvent.PHOTO_DONE, DaemonEvent.PHOTO_FAILED, DaemonEvent.PHOTO_HELD,
                     DaemonEvent.PHOTO_RELEASED, DaemonEvent.PRINT_READY,
                     DaemonEvent.CARD_READY, DaemonEvent.PASS_FINISHED,
                     DaemonEvent.FOLDER_MISSING,
                     DaemonEvent.FOLDER_BACK})   # what the team can be notified of
