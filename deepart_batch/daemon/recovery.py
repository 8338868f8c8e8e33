"""What start-up needs when the disk and the journal disagree, or the journal is lost.

Every claim leaves a small note in state/claims/ naming the inbox path of the file it moved
into work/. With the notes, a journal that was deleted, emptied or damaged is rebuilt:
files in work/ are claimed again under their own names, and done/ and failed/ become its
history. No torch here: `repair-journal` runs it on a box without a working render stack.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path, PurePosixPath

from loguru import logger

from ..paths import atomic_write_json
from .journal import Journal

ERROR_SUFFIX = ".error.json"


def claim_note(claims_dir: Path, work_path: Path) -> Path:
    return claims_dir / (work_path.name + ".json")


def write_claim_note(claims_dir: Path, work_path: Path, relpath: str) -> None:
    atomic_write_json(claim_note(claims_dir, work_path),
                      {"relpath": relpath, "work": work_path.name, "time": time.time()})


def remove_claim_note(claims_dir: Path, work_path: str | Path) -> None:
    try:
        claim_note(claims_dir, Path(work_path)).unlink()
    except FileNotFoundError:
        pass


def campaign_of(relpath: str) -> str:
    parts = PurePosixPath(relpath).parts
    return parts[0] if len(parts) > 1 else ""


def clean_work(work_dir: Path, claims_dir: Path, known: set[str]) -> int:
    """Remove half copies (`.name.part`) from work/ and notes whose file is gone."""
    removed = 0
    for entry in list(work_dir.iterdir()) if work_dir.exists() else []:
        if entry.name.startswith(".") and entry.name.endswith(".part"):
            entry.unlink(missing_ok=True)
            removed += 1
    for note in list(claims_dir.iterdir()) if claims_dir.exists() else []:
        work = work_dir / note.name[: -len(".json")]
        if not work.exists() and str(work) not in known:
            note.unlink(missing_ok=True)
    return removed


def adopt_orphans(journal: Journal, work_dir: Path, claims_dir: Path) -> list[str]:
    """Give every file in work/ without a journal row one ('claiming': start-up then hashes,
    plans and renders it like any new claim). Returns the inbox paths adopted."""
    known = journal.work_paths()
    adopted = []
    for entry in sorted(work_dir.iterdir()) if work_dir.exists() else []:
        if entry.name.startswith(".") or not entry.is_file() or str(entry) in known:
            continue
        relpath = f"_recovered/{entry.name}"
        try:
            relpath = json.loads(claim_note(claims_dir, entry).read_text())["relpath"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        journal.adopt_input(relpath, campaign_of(relpath), str(entry))
        adopted.append(relpath)
    if adopted:
        logger.warning("{} file(s) in {} had no journal row (the journal was lost or "
                       "replaced): claimed again: {}", len(adopted), work_dir,
                       ", ".join(adopted[:10]) + (" ..." if len(adopted) > 10 else ""))
    return adopted


def rebuild_history(journal: Journal, done_dir: Path, failed_dir: Path) -> tuple[int, int]:
    """done/ and failed/ as archived inputs, so `status` and the team keep their history."""
    counts = []
    for state, root in (("done", done_dir), ("failed", failed_dir)):
        n = 0
        for dirpath, _, files in os.walk(root) if root.exists() else []:
            for name in sorted(files):
                if name.endswith(ERROR_SUFFIX) or name.startswith("."):
                    continue
                path = Path(dirpath) / name
                relpath = path.relative_to(root).as_posix()
                error = None
                note = path.with_name(name + ERROR_SUFFIX)
                if note.exists():
                    try:
                        error = str(json.loads(note.read_text()).get("error"))
                    except (OSError, ValueError, AttributeError):
                        error = "see " + str(note)
                journal.add_archived(relpath, campaign_of(relpath), state, str(path), error,
                                     path.stat().st_mtime)
                n += 1
        counts.append(n)
    return counts[0], counts[1]


def move_aside(journal_path: Path) -> Path:
    """journal.sqlite (and its -wal/-shm) -> journal.sqlite.damaged-<time>, kept for study."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = journal_path.with_name(f"{journal_path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(journal_path) + suffix)
        if src.exists():
            os.replace(src, str(aside) + suffix)
    return aside


def rebuild(journal_path: Path, work_dir: Path, done_dir: Path, failed_dir: Path,
            claims_dir: Path, reason: str) -> tuple[Journal, str]:
    """Move a damaged journal aside and start a new one from what is on disk."""
    aside = move_aside(journal_path)
    journal = Journal(journal_path)
    done, failed = rebuild_history(journal, done_dir, failed_dir)
    adopted = adopt_orphans(journal, work_dir, claims_dir)
    message = (f"{reason}: moved it aside to {aside.name} and rebuilt the journal from "
               f"{work_dir.parent}: {len(adopted)} file(s) in work/ claimed again, "
               f"{done} in done/, {failed} in failed/")
    return journal, message
