"""The team's words for each failure reason: what went wrong with a photo and what to do,
in plain language with no server paths (problem notes, notifications, status, the gallery).
Whose trouble a reason is (FailureReason.category) is the daemon's vocabulary, in
core/states.py; these are only its texts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .states import FailureReason


@dataclass(frozen=True)
class TeamText:
    what: str   # what went wrong; {photo} and {detail} are filled in
    todo: str   # what the team can do


R = FailureReason
TEXTS: dict[FailureReason, TeamText] = {
    R.UNREADABLE: TeamText("{photo} could not be opened as an image ({detail}).",
                  "Copy the photo into the inbox again: the file is damaged or "
                  "incomplete, as when a copy did not finish. If it does not open on your "
                  "computer either, export it again as JPEG or PNG and drop the new "
                  "file."),
    R.EMPTY: TeamText("{photo} is an empty file (0 bytes).",
             "The copy probably did not finish. Copy the photo into the inbox again."),
    R.TOO_BIG: TeamText("{photo} is too large a file ({detail}).",
               "Export a smaller version (for example a high-quality JPEG) and drop it "
               "into the inbox."),
    R.TOO_MANY_PIXELS: TeamText("{photo} has too many pixels ({detail}).",
                       "Scale the photo down and drop it into the inbox again."),
    R.TOO_SMALL: TeamText("{photo} is too small to restyle ({detail}).",
                 "Drop the original, larger photo into the inbox."),
    R.FORMAT: TeamText("{photo} is in a format this box does not accept ({detail}).",
              "Save it as JPEG or PNG and drop it into the inbox again."),
    R.SYMLINK: TeamText("{photo} is a shortcut (link) to a file, not the photo itself.",
               "Copy the photo itself into the inbox."),
    R.HARDLINK: TeamText("{photo} is linked to another file rather than copied.",
                "Copy the photo into the inbox instead of linking it."),
    R.NOT_REGULAR: TeamText("{photo} is not an ordinary file.",
                   "Copy an ordinary image file into the inbox."),
    R.BAD_NAME: TeamText("The name of {photo} cannot be used ({detail}).",
                "Rename the photo (shorter, ordinary letters) and drop it again."),
    R.RESERVED_NAME: TeamText("{photo} is in a folder whose name the outbox uses for "
                              "itself ({detail}).",
                     "Rename that folder in the inbox as the note says and drop the "
                     "photo into the renamed folder."),
    R.IMAGE: TeamText("{photo} could not be read while rendering ({detail}).",
             "Export the photo again and drop the new file into the inbox."),
    R.MASK_INVALID: TeamText("The mask of {photo} cannot be used ({detail}).",
                             "Fix the mask in the masks folder as the detail says (same frame "
                             "as the photo, only the colours the manifest maps) and save it "
                             "again under the same name: the photo renders again by itself."),
    R.STYLE_MISSING: TeamText("A painting this photo should be restyled with is missing "
                              "on the render box ({detail}).",
                     "Put the painting back in the styles folder or change the manifest. "
                     "The photo waits and renders by itself once the painting is there."),
    R.NO_RULE: TeamText("No rule in the manifest says which paintings to use for "
                        "{photo}.",
               "Add a rule for this folder to the manifest (or move the photo into a "
               "folder that has one). The photo waits and renders by itself after the "
               "manifest is saved."),
    R.MANIFEST_INVALID: TeamText("The manifest has a mistake, so {photo} cannot be "
                                 "planned ({detail}).",
                        "Fix the manifest (its .error.json file says where). The photo "
                        "waits and renders by itself once the manifest is valid."),
    R.OUTBOX_UNWRITABLE: TeamText("The result for {photo} could not be saved to the "
                                  "outbox ({detail}).",
                         "Ask the administrator to check that the outbox share is "
                         "mounted and writable. The photo is retried by itself."),
    R.DISK_FULL: TeamText("The disk is full, so {photo} cannot be finished.",
                 "Free some space (for example move old results out of the outbox). "
                 "The photo is retried by itself."),
    R.NO_DEVICE: TeamText("No graphics card or processor is available to render "
                          "{photo} ({detail}).",
                 "Ask the administrator to check the render box. The photo waits and "
                 "is retried by itself."),
    R.INBOX_PERMISSIONS: TeamText("The render box is not allowed to take {photo} out of "
                                  "its inbox folder ({detail}).",
                         "Ask the administrator to let the render box's group change "
                         "that folder (see \"Permissions\" in the README), or copy the "
                         "photos in again with a tool that keeps the inbox's "
                         "permissions. The photo waits in the inbox and is taken by "
                         "itself once the permissions are fixed."),
    R.MASK_MISSING: TeamText("{photo} waits for its mask: its manifest rule requires one "
                             "({detail}).",
                             "Save the mask in the masks folder under the photo's folder and "
                             "name (any image type, e.g. masks/spring/shoe.png for "
                             "spring/shoe.jpg). The photo renders by itself once the mask is "
                             "there."),
    R.FOLDER_MISSING: TeamText("{photo} waits: a folder of the render box cannot be "
                               "reached ({detail}).",
                      "Ask the administrator to mount the share again (or put the folder "
                      "back). Nothing is saved anywhere else meanwhile; the photo renders "
                      "by itself once the folder is back."),
    R.OOM: TeamText("Rendering {photo} ran out of memory ({detail}).",
          "Use a smaller size for this folder in the manifest, then retry the photo."),
    R.CRASHED: TeamText("The renderer stopped unexpectedly while working on {photo}.",
              "Retry the photo; if it fails again, tell the administrator."),
    R.TIMEOUT: TeamText("Rendering {photo} took longer than allowed ({detail}).",
              "Use a smaller size or fewer steps in the manifest, then retry the photo."),
    R.INTERRUPTED: TeamText("Rendering {photo} was interrupted too many times.",
                  "Retry the photo; if it fails again, tell the administrator."),
    R.TOO_LARGE: TeamText("{photo} is set to render larger than this box can ({detail}).",
                "Lower the size for this folder in the manifest, then retry the photo."),
    R.UNSAFE_PATH: TeamText("The result for {photo} would have been written outside "
                            "the outbox, through a linked folder ({detail}).",
                  "Replace the linked folder in the outbox with a real folder, then "
                  "retry the photo."),
    R.INPUT_LOST: TeamText("The copy of {photo} on the render box was lost.",
                 "Drop the photo into the inbox again."),
    R.APPROVAL_INVALID: TeamText("{photo} cannot be printed ({detail}).",
                        "Copy the preview exactly as the box wrote it (its report "
                        "beside it in the outbox) into the approve folder again."),
    R.STYLE_UNREADABLE: TeamText("The painting {photo} cannot be used as a style "
                                 "({detail}).",
                        "Replace it in the styles folder with a JPEG or PNG that opens "
                        "on your computer, or remove it. Its style card is made by "
                        "itself once a readable file is there."),
    R.ERROR: TeamText("Something went wrong while rendering {photo} ({detail}).",
            "Retry the photo; if it fails again, tell the administrator."),
}
del R

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
