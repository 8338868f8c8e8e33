"""States, failure reasons and event kinds: the daemon's vocabulary, in one place.

Strings from these enums are what the journal stores, what `status --json` and the
Prometheus labels show and what webhooks carry, so their values are stable: add members,
never rename them. Each FailureReason says whose trouble it is (the photo's, the setup's or
the render's) and carries a plain-language message for the team: what went wrong and what
to do, with no server paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Text:
    category: Category
    what: str   # what went wrong; {photo} and {detail} are filled in
    todo: str   # what the team can do


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
        return TEXTS[self].category

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


R, C = FailureReason, Category
TEXTS: dict[FailureReason, _Text] = {
    R.UNREADABLE: _Text(C.PHOTO, "{photo} could not be opened as an image ({detail}).",
                        "Copy the photo into the inbox again: the file is damaged or "
                        "incomplete, as when a copy did not finish. If it does not open on your "
                        "computer either, export it again as JPEG or PNG and drop the new "
                        "file."),
    R.EMPTY: _Text(C.PHOTO, "{photo} is an empty file (0 bytes).",
                   "The copy probably did not finish. Copy the photo into the inbox again."),
    R.TOO_BIG: _Text(C.PHOTO, "{photo} is too large a file ({detail}).",
                     "Export a smaller version (for example a high-quality JPEG) and drop it "
                     "into the inbox."),
    R.TOO_MANY_PIXELS: _Text(C.PHOTO, "{photo} has too many pixels ({detail}).",
                             "Scale the photo down and drop it into the inbox again."),
    R.TOO_SMALL: _Text(C.PHOTO, "{photo} is too small to restyle ({detail}).",
                       "Drop the original, larger photo into the inbox."),
    R.FORMAT: _Text(C.PHOTO, "{photo} is in a format this box does not accept ({detail}).",
                    "Save it as JPEG or PNG and drop it into the inbox again."),
    R.SYMLINK: _Text(C.PHOTO, "{photo} is a shortcut (link) to a file, not the photo itself.",
                     "Copy the photo itself into the inbox."),
    R.HARDLINK: _Text(C.PHOTO, "{photo} is linked to another file rather than copied.",
                      "Copy the photo into the inbox instead of linking it."),
    R.NOT_REGULAR: _Text(C.PHOTO, "{photo} is not an ordinary file.",
                         "Copy an ordinary image file into the inbox."),
    R.BAD_NAME: _Text(C.PHOTO, "The name of {photo} cannot be used ({detail}).",
                      "Rename the photo (shorter, ordinary letters) and drop it again."),
    R.RESERVED_NAME: _Text(C.PHOTO, "{photo} is in a folder whose name the outbox uses for "
                                    "itself ({detail}).",
                           "Rename that folder in the inbox as the note says and drop the "
                           "photo into the renamed folder."),
    R.IMAGE: _Text(C.PHOTO, "{photo} could not be read while rendering ({detail}).",
                   "Export the photo again and drop the new file into the inbox."),
    R.MASK_INVALID: _Text(C.PHOTO, "The mask of {photo} cannot be used ({detail}).",
                          "Fix the mask in the masks folder as the detail says (same frame as "
                          "the photo, only the colours the manifest maps) and save it again "
                          "under the same name: the photo renders again by itself."),
    R.STYLE_MISSING: _Text(C.SETUP, "A painting this photo should be restyled with is missing "
                                    "on the render box ({detail}).",
                           "Put the painting back in the styles folder or change the manifest. "
                           "The photo waits and renders by itself once the painting is there."),
    R.NO_RULE: _Text(C.SETUP, "No rule in the manifest says which paintings to use for "
                              "{photo}.",
                     "Add a rule for this folder to the manifest (or move the photo into a "
                     "folder that has one). The photo waits and renders by itself after the "
                     "manifest is saved."),
    R.MANIFEST_INVALID: _Text(C.SETUP, "The manifest has a mistake, so {photo} cannot be "
                                       "planned ({detail}).",
                              "Fix the manifest (its .error.json file says where). The photo "
                              "waits and renders by itself once the manifest is valid."),
    R.OUTBOX_UNWRITABLE: _Text(C.SETUP, "The result for {photo} could not be saved to the "
                                        "outbox ({detail}).",
                               "Ask the administrator to check that the outbox share is "
                               "mounted and writable. The photo is retried by itself."),
    R.DISK_FULL: _Text(C.SETUP, "The disk is full, so {photo} cannot be finished.",
                       "Free some space (for example move old results out of the outbox). "
                       "The photo is retried by itself."),
    R.NO_DEVICE: _Text(C.SETUP, "No graphics card or processor is available to render "
                                "{photo} ({detail}).",
                       "Ask the administrator to check the render box. The photo waits and "
                       "is retried by itself."),
    R.INBOX_PERMISSIONS: _Text(C.SETUP, "The render box is not allowed to take {photo} out of "
                                        "its inbox folder ({detail}).",
                               "Ask the administrator to let the render box's group change "
                               "that folder (see \"Permissions\" in the README), or copy the "
                               "photos in again with a tool that keeps the inbox's "
                               "permissions. The photo waits in the inbox and is taken by "
                               "itself once the permissions are fixed."),
    R.FOLDER_MISSING: _Text(C.SETUP, "{photo} waits: a folder of the render box cannot be "
                                     "reached ({detail}).",
                            "Ask the administrator to mount the share again (or put the folder "
                            "back). Nothing is saved anywhere else meanwhile; the photo renders "
                            "by itself once the folder is back."),
    R.MASK_MISSING: _Text(C.SETUP, "{photo} waits for its mask: its manifest rule requires one "
                                   "({detail}).",
                          "Save the mask in the masks folder under the photo's folder and "
                          "name (any image type, e.g. masks/spring/shoe.png for "
                          "spring/shoe.jpg). The photo renders by itself once the mask is "
                          "there."),
    R.OOM: _Text(C.RENDER, "Rendering {photo} ran out of memory ({detail}).",
                 "Use a smaller size for this folder in the manifest, then retry the photo."),
    R.CRASHED: _Text(C.RENDER, "The renderer stopped unexpectedly while working on {photo}.",
                     "Retry the photo; if it fails again, tell the administrator."),
    R.TIMEOUT: _Text(C.RENDER, "Rendering {photo} took longer than allowed ({detail}).",
                     "Use a smaller size or fewer steps in the manifest, then retry the photo."),
    R.INTERRUPTED: _Text(C.RENDER, "Rendering {photo} was interrupted too many times.",
                         "Retry the photo; if it fails again, tell the administrator."),
    R.TOO_LARGE: _Text(C.RENDER, "{photo} is set to render larger than this box can ({detail}).",
                       "Lower the size for this folder in the manifest, then retry the photo."),
    R.UNSAFE_PATH: _Text(C.RENDER, "The result for {photo} would have been written outside "
                                   "the outbox, through a linked folder ({detail}).",
                         "Replace the linked folder in the outbox with a real folder, then "
                         "retry the photo."),
    R.INPUT_LOST: _Text(C.RENDER, "The copy of {photo} on the render box was lost.",
                        "Drop the photo into the inbox again."),
    R.APPROVAL_INVALID: _Text(C.PHOTO, "{photo} cannot be printed ({detail}).",
                              "Copy the preview exactly as the box wrote it (its report "
                              "beside it in the outbox) into the approve folder again."),
    R.STYLE_UNREADABLE: _Text(C.PHOTO, "The painting {photo} cannot be used as a style "
                                       "({detail}).",
                              "Replace it in the styles folder with a JPEG or PNG that opens "
                              "on your computer, or remove it. Its style card is made by "
                              "itself once a readable file is there."),
    R.ERROR: _Text(C.RENDER, "Something went wrong while rendering {photo} ({detail}).",
                   "Retry the photo; if it fails again, tell the administrator."),
}
del R, C

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
                     DaemonEvent.PASS_FINISHED, DaemonEvent.FOLDER_MISSING,
                     DaemonEvent.FOLDER_BACK})   # what the team can be notified of


_FIELD = re.compile(r"\{(photo|detail)\}")
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:;,'\"()]+/)+([^\s/:;,'\"()]+)")


def plain(detail: str) -> str:
    """A technical detail without server paths: '/srv/x/styles/starry.jpg' -> 'starry.jpg'."""
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1), str(detail or "")).strip()


def message(reason, photo: str, detail: str = "") -> tuple[str, str]:
    """(what went wrong, what to do) in plain words for `photo` (a name as the team sees it)."""
    text = TEXTS[FailureReason.parse(reason)]
    detail = plain(detail) or "no details"
    values = {"photo": f'"{photo}"', "detail": detail}
    return _FIELD.sub(lambda m: values[m.group(1)], text.what), text.todo
