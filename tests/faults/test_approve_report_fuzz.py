"""Fuzzing the report beside an approved preview: random edits of a real report (types
changed, keys removed or added, huge numbers, wrong nesting), approved one after another
into a running `watch`. The daemon never stops, and every approval ends as a print or as
a problem approval with a note that has no traceback.

Canned executor: the render is not the point. The mutations are seeded, so a failure
names the seed and the edit, and reruns the same way."""

import copy
import json
import random
import shutil

from support.boxes import Box, watch_in_process
from support.journal_probe import JournalProbe
from support.manifests import ONE_STYLE

DEFAULTS = {"size": 64, "steps": 4, "log_every": 1, "print_size": 128}
MUTATIONS = 30
SEED = 20261207
ODD_VALUES = [None, True, -1, 0, 2**63, 1e308, -1e308, 0.5, "", "x" * 300, "64", [], [1, "a"],
              {}, {"nested": {"deeper": [None]}}]


def _paths(tree, prefix=()):
    """Every key path in a JSON tree (dict keys and list indexes)."""
    out = [prefix] if prefix else []
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _paths(v, prefix + (i,))
    return out


def _at(tree, path):
    for key in path:
        tree = tree[key]
    return tree


def mutate(report, rng):
    """One random edit of `report`: (the edited report, what was done)."""
    r = copy.deepcopy(report)
    path = rng.choice(_paths(r))
    parent, key = _at(r, path[:-1]), path[-1]
    kind = rng.choice(["retype", "retype", "remove", "extra", "wrap", "whole"])
    if kind == "retype":
        parent[key] = copy.deepcopy(rng.choice(ODD_VALUES))
    elif kind == "remove":
        del parent[key]
    elif kind == "extra":
        target = _at(r, path) if isinstance(_at(r, path), dict) else r
        target["unexpected_" + str(rng.randrange(1000))] = rng.choice(ODD_VALUES)
    elif kind == "wrap":
        parent[key] = [parent[key]]
    else:
        return copy.deepcopy(rng.choice(ODD_VALUES + [[report]])), "whole report replaced"
    return r, f"{kind} {'.'.join(map(str, path))}"


def test_random_edits_of_an_approved_previews_report_never_stop_the_daemon(tmp_path, capfd):
    box = Box(tmp_path, manifest=ONE_STYLE, canned=True, defaults=DEFAULTS)
    box.drop("tubingen.jpg", "spring/photo.jpg")
    assert box.run_once().returncode == 0
    (preview,) = [box.outbox / rel for rel in box.outputs()]
    report_path = preview.with_suffix(".json")
    original = json.loads(report_path.read_text())
    original["output"].update(width=64, height=48)     # a 64 px preview, as a print needs
    rng = random.Random(SEED)
    edits = [mutate(original, rng) for _ in range(MUTATIONS)]
    approve = box.outbox / "_approve"
    approve.mkdir(exist_ok=True)
    probe = JournalProbe(box)
    done: list[str] = []
    outcomes: list[tuple[str, str, str]] = []     # (edit, state, note)

    def approvals() -> list[str]:
        return [state for rel, state in probe.inputs("relpath", "state")
                if rel.startswith("_approve/")]

    def note_now() -> str:
        return " ".join(p.read_text(errors="replace")
                        for p in (box.outbox / "_problems").rglob("*.txt"))

    def next_or_finished() -> bool:
        """Approve the next edit once the previous approval has finished (a later print of
        the same preview clears an earlier problem's note, so each is read at its end)."""
        states = approvals()
        if len(states) < len(done) or not set(states) <= {"done", "failed"}:
            return False
        if done and len(outcomes) < len(done):
            outcomes.append((done[-1], states[-1], note_now() if states[-1] == "failed"
                             else ""))
        if len(done) == len(edits):
            return True
        report, what = edits[len(done)]
        report_path.write_text(json.dumps(report))
        shutil.copy(preview, approve / preview.name)   # the name the box wrote
        done.append(what)
        return False

    watch_in_process(box, next_or_finished, timeout=40 + 6 * MUTATIONS)
    log = capfd.readouterr().err     # the daemon's log: no receiver failed on a report
    assert "Traceback" not in log and "| ERROR" not in log, log[-3000:]
    assert len(outcomes) == MUTATIONS
    for what, state, note in outcomes:
        assert state in ("done", "failed"), (what, state)
        if state == "failed":
            assert preview.name in note and "Traceback" not in note, (what, note)
    printed = sum(state == "done" for _, state, _ in outcomes)
    print(f"{MUTATIONS} mutations (seed {SEED}): {printed} printed, {MUTATIONS - printed} "
          "problem approvals with a note, 0 daemon stops")
