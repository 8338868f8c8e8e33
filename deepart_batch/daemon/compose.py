"""compose(): build the service's collaborators and wire them, in one place.

The service loop (service.py) builds nothing: everything it works with is made here, from
the config, in the order the box needs (the lock before the journal, the journal before
anything that reads it). The job sources are the factories in SOURCES, asked in that order
(sources/registry.py); a new way in is one module and one line there (docs/architecture.md,
"Adding a job source"). Receivers that publish to operators (status file, metrics, gallery)
are built after start-up recovery, so they read a journal that agrees with the disk.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from loguru import logger

from ..core.layout import StateLayout
from ..gallery.writer import GalleryWriter
from ..ops.sdnotify import Notifier
from ..pool import FairScheduler, make_executor
from ..settings.config import Config
from ..settings.manifest import ManifestStore
from ..weights import weights_identity
from .admin.bulk_pass import PassEnd, PassProgress
from .admin.lock import BULK, DAEMON, take_lock
from .admin.recovery import Recovery, open_journal
from .earlystop import early_stop_requested
from .events import EventBus
from .outcomes.results import Outcomes
from .receivers.gallery_hook import GalleryHook
from .receivers.ops_hooks import OpsHooks
from .receivers.team import TeamDesk
from .schedule.holding import Holding
from .schedule.policy import PolicySettings
from .service import Service
from .settle.folder_presence import FolderWatch
from .sources.approvals import ApprovalSource
from .sources.inbox import InboxSource
from .sources.mask_folder import MaskSource
from .sources.mask_index import MaskIndex
from .sources.protocol import SourceContext
from .sources.registry import Sources, plan_guarded
from .sources.style_cards import StyleCardSource

# The job sources, in the order they take files each tick: masks first (a photo dropped with
# its mask is planned with it), then photos, cards behind them.
SOURCES = (MaskSource, InboxSource, ApprovalSource, StyleCardSource)


class LockWait:
    """While `watch` waits for a bulk pass to give the box's lock back: a started service
    that waits, not a slow start. READY once (so systemd's start timeout does not kill
    it), then status and watchdog pings."""

    def __init__(self, notifier: Notifier):
        self.notifier, self.ready_sent = notifier, False

    def __call__(self, message: str) -> bool:
        if not self.ready_sent:
            self.notifier.ready(message)
            self.ready_sent = True
        self.notifier.status(message)
        self.notifier.watchdog()
        return not early_stop_requested()


def compose(config: Config, once: bool = False, notifier: Notifier | None = None,
            sources=None, make_cards: bool = True) -> Service:
    """The service for this config, its collaborators built and wired. `sources`: the
    job source factories (default SOURCES); `make_cards` False: `run --once --no-cards`."""
    notifier = notifier or Notifier()
    layout = StateLayout(Path(config.state_dir))
    for d in (layout.work, layout.done, layout.failed):  # never the outbox
        d.mkdir(parents=True, exist_ok=True)
    lock = take_lock(layout.lock, BULK if once else DAEMON,
                     None if once else LockWait(notifier), early_stop_requested)
    layout.claims.mkdir(exist_ok=True)
    journal = open_journal(layout, config.journal_busy_seconds)
    manifests = ManifestStore(config.manifest, config.styles_dir, config)
    pool = make_executor(config, parent_logger=logger)
    events = EventBus()
    team = TeamDesk(config, journal=journal)
    team.connect(events)
    policy = PolicySettings.from_config(config)
    holding = Holding(journal, policy, events, config.manifest.name)
    outcomes = Outcomes(config, journal, layout, holding, events, policy)
    context = SourceContext(config=config, journal=journal, layout=layout, outcomes=outcomes,
                            holding=holding, manifests=manifests, events=events,
                            weights_id=weights_identity(config.weights), once=once,
                            plan=partial(plan_guarded, outcomes=outcomes),
                            make_cards=make_cards, masks=MaskIndex(layout.masks),
                            plan_again=lambda inp: job_sources.plan_again(inp))
    job_sources = Sources(SOURCES if sources is None else sources, context)
    watcher = job_sources.named("inbox").watcher
    folders = FolderWatch({"inbox": config.inbox, "outbox": config.outbox,
                           "state": layout.root}, events, guard=("outbox", "state"))
    service: Service | None = None
    recovery = Recovery(config, layout, journal, manifests, job_sources, outcomes,
                        lambda: service.pool.running_jobs())

    def receivers() -> list:
        """Ops and the gallery, connected after recovery."""
        built = [OpsHooks(config, journal, service.pool, watcher, manifests, notifier,
                          layout.status_file, once, holding.in_inbox_by_reason,
                          waiting=service.waiting)]
        if once:
            built.append(PassProgress(journal, outcomes.summary))
        built.append(GalleryHook(GalleryWriter(config, held=holding.in_inbox_reasons,
                                                 cards_made=make_cards)))
        return built

    service = Service(config=config, once=once, notifier=notifier, layout=layout,
                      lock=lock, journal=journal, manifests=manifests, watcher=watcher,
                      pool=pool, scheduler=FairScheduler(), events=events, team=team,
                      holding=holding, outcomes=outcomes, sources=job_sources,
                      make_cards=make_cards,
                      recovery=recovery, folders=folders, receivers=receivers,
                      bulk=PassEnd(outcomes.summary, journal, holding, watcher, layout, config))
    return service
