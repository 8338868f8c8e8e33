"""One way in for jobs: the `JobSource` protocol the inbox, approvals and style cards follow.

A source says which folder of the box must be there for it to work (`needs`), takes its
settled files in (`take_due`: it watches, settles and claims them into work/ through the
journal), says whether a claimed input is its own (`owns`), and turns one of its claimed
inputs into job specs in the journal (`plan`). Every input archives the same way
(outcomes/archive.py: done/ or failed/ under its relpath), so a source names its inputs
in a folder of its own (`_approve/`, `_styles/`) and `owns` says so. The registry
(registry.py) asks the sources in order; only its guard (guard.py) calls `plan`.

A new way in (an HTTP upload, an S3 bucket, a mask folder) is one module with a class like
these and one line in compose.SOURCES; see docs/architecture.md, "Adding a job source".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

from ...core.layout import StateLayout
from ...core.states import FailureReason


@dataclass(frozen=True)
class SourceContext:
    """What compose() hands each source's factory: the box's shared collaborators."""
    config: object          # settings.config.Config
    journal: object         # journal.Journal
    layout: StateLayout
    outcomes: object        # outcomes.results.Outcomes: fail or archive an input
    holding: object         # schedule.holding.Holding
    manifests: object       # settings.manifest.ManifestStore
    events: object          # events.EventBus
    weights_id: dict
    once: bool
    plan: Callable          # plan(source, inp) -> job ids: a claimed input, guarded
    make_cards: bool = True  # False for `run --once --no-cards`
    masks: object = None     # sources.mask_index.MaskIndex: the masks folder's masks
    # plan_again(inp): an input whose plan is due again (a hold over, or a new input of a
    # photo another source claimed), planned by its own source behind the guard, and
    # archived if that finished it (registry.Sources.plan_again)
    plan_again: Callable | None = None


@runtime_checkable
class JobSource(Protocol):
    name: str                       # for logs: "inbox", "approvals", "style cards"
    needs: str                      # the folder that must be there: "inbox" or "outbox"
    failure_reason: FailureReason   # what an input that cannot be planned fails with
    catch_all: bool                 # owns what no other source owns (the inbox): asked last

    def owns(self, relpath: str) -> bool:
        """Whether a claimed input with this relpath came from this source."""

    def take_due(self, stopping: Callable[[], bool]) -> None:
        """Claim every settled file into work/ (journal first), then plan it through
        SourceContext.plan; a file that cannot be taken stays where it is."""

    def pending(self) -> int:
        """Files seen but not taken yet (`run --once` waits for them)."""

    def plan(self, inp) -> list[int]:
        """The job ids of a claimed input, or [] when it is held or failed. Raises for any
        trouble of the file: the guard makes that the file's problem."""

    def startable(self, ready: list, running: list) -> list:
        """Which of the ready jobs may start now (the dispatcher asks every source in turn)."""


@runtime_checkable
class Watching(Protocol):
    """A source that watches a folder (the inbox, the masks folder): the registry starts its
    observer when the service starts (`once`: a scan only), stops it at the end, and asks
    whether it is still alive (a dead observer ends `watch`, for systemd to restart it)."""

    def start_watching(self, once: bool) -> None: ...

    def stop_watching(self) -> None: ...

    def observing(self) -> bool: ...
