"""The note the team reads, by the way the file came in: a photo, an approval or a painting.
Control characters in a name never reach a terminal that shows the note."""

from deepart_batch.core.states import FailureReason
from deepart_batch.daemon.receivers.problems import problem_text


def test_an_approval_note_speaks_of_the_approve_folder_and_gives_the_approvals_own_advice():
    note = problem_text("_approve/shoe.starry.jpg", FailureReason.APPROVAL_INVALID,
                        "shoe.starry.jpg: the photo spring/shoe.jpg is no longer kept on the "
                        "box (retention); drop it again and approve the new preview", False)
    assert note.startswith("Approval: _approve/shoe.starry.jpg\n")
    assert "copy the preview into the approve folder again" in note
    assert "What to do:\n  Drop it again and approve the new preview." in note
    assert "into the inbox (see below)" not in note and "(approval)" in note


def test_a_painting_note_speaks_of_the_styles_folder():
    note = problem_text("_styles/cut.jpg", FailureReason.STYLE_UNREADABLE, "damaged", False)
    assert note.startswith("Painting: _styles/cut.jpg\n") and "styles folder" in note


def test_a_photo_note_is_unchanged_and_control_characters_are_escaped():
    note = problem_text("spring/\x1b]0;owned\x07.jpg", FailureReason.UNREADABLE,
                        "bad \x1b[2J data", False)
    assert note.startswith("Photo:   spring/") and "Drop a good copy of the photo" in note
    assert "\x1b" not in note and "\x07" not in note and "\\033" in note
