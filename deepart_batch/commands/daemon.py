"""The daemon's commands: watch, run --once, status, retry, repair-journal and prune.

Each reads the config and hands over to deepart_batch.daemon; none imports torch (the
service's render workers do).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from ..errors import ParamsError
from .console import PROG, flush_logs
from .options import add_config_option


def add_commands(sub) -> None:
    w = sub.add_parser("watch", help="run the hot-folder daemon (systemd service)",
                       description="Watch the inbox and render every settled file until "
                                   "SIGTERM/SIGINT; then drain running jobs and exit 0.")
    add_config_option(w)
    w.set_defaults(func=cmd_watch)
    r = sub.add_parser("run", help="render everything in the inbox, then exit (cron/timer)",
                       description="Take every file present in the inbox, render it, print a "
                                   "summary and exit: 0 everything done, 1 some failed, 20 "
                                   "some held or left untaken, 21 stopped before the end "
                                   "(SIGTERM); 75 another bulk pass holds the state_dir.")
    add_config_option(r)
    r.add_argument("--once", action="store_true", required=True,
                   help="process what is present and exit (required)")
    r.add_argument("--no-cards", action="store_true",
                   help="make no style cards in this pass (by default the missing or stale "
                        "ones are made after the photos)")
    r.set_defaults(func=cmd_run)
    st = sub.add_parser("status", help="job counts, devices, running jobs, recent failures")
    add_config_option(st)
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_status)
    _add_retry(sub)
    rj = sub.add_parser("repair-journal", help="move a damaged journal aside and rebuild it "
                        "from state_dir/work, done and failed",
                        description="For a journal.sqlite that is truncated, overwritten or "
                                    "lost (the daemon also does this by itself at start-up). "
                                    "Photos in work/ are claimed again; done/ and failed/ "
                                    "become the history. Refuses while a daemon runs.")
    add_config_option(rj)
    rj.add_argument("--force", action="store_true",
                    help="rebuild even when the journal opens fine")
    rj.set_defaults(func=cmd_repair_journal)
    _add_prune(sub)


def _add_retry(sub) -> None:
    rt = sub.add_parser("retry", help="put failed photos back; re-render done ones (--force)",
                        description="Put failed photos back into the inbox (from failed/), so "
                                    "the running daemon or the next run --once renders them; "
                                    "their problem notes and .error.json go. Held photos are "
                                    "tried at once. --force renders done ones again, next to "
                                    "the old outputs. Works while watch runs.")
    rt.add_argument("job", nargs="?", type=int, metavar="JOB_ID", help="a job id from status")
    add_config_option(rt)
    rt.add_argument("--photo", metavar="NAME", help="name, inbox path or pattern (city/*.jpg)")
    rt.add_argument("--all-failed", action="store_true", help="every failed photo")
    rt.add_argument("--since", metavar="TIME", help="failed (or with --force, done) since "
                                                    "TIME: 2026-11-27T09:00, or 30m, 2h, 1d")
    rt.add_argument("--force", action="store_true", help="also render done photos again")
    rt.set_defaults(func=cmd_retry)


def _add_prune(sub) -> None:
    pr = sub.add_parser("prune", help="remove archived originals and journal rows of old, "
                                      "finished inputs",
                        description="Remove, for every input that finished (done or failed) "
                                    "more than --older-than ago, its archived original in "
                                    "state_dir/done or failed and its journal rows. Unfinished "
                                    "inputs and the outbox are never touched. The daemon does "
                                    "the same by itself when the config sets "
                                    "retention.older_than.")
    add_config_option(pr)
    pr.add_argument("--older-than", metavar="AGE",
                    help="age like 30d, 12h or '2 weeks' (default: retention.older_than "
                         "from the config)")
    pr.add_argument("--dry-run", action="store_true",
                    help="say what would be removed, remove nothing")
    pr.set_defaults(func=cmd_prune)


# --- watch and run --once


def _daemon_logging(config, cli_level: str | None, enqueue: bool = True) -> None:
    from ..ops.logsetup import configure_logging
    lg = config.logging
    configure_logging(cli_level or lg.level, json_file=lg.json_file, rotation=lg.rotation,
                      retention=lg.retention, enqueue=enqueue)


def _end_helpers(config, cli_level: str | None) -> None:
    """Direct log sinks (the enqueued ones hold multiprocessing locks), then no process
    left behind: systemd would have to SIGKILL the resource tracker at stop."""
    from ..pool.pool import end_helper_processes
    _daemon_logging(config, cli_level, enqueue=False)
    end_helper_processes()


class DeferredReload:
    """The SIGHUP handler from the start of `watch` and `run --once` until the service
    installs its own: `systemctl reload` while the daemon loads or waits for a bulk pass
    (the README says it is up) must not kill it (SIGHUP's default). The reload is kept
    and handed to the service, which applies it on its first tick."""

    def __init__(self) -> None:
        self.requested = False
        self.service = None

    def install(self) -> None:
        signal.signal(signal.SIGHUP, self)

    def __call__(self, *_) -> None:
        """A signal handler: it only notes the request (or passes it on), never logs."""
        if self.service is not None:
            self.service.request_reload()
        else:
            self.requested = True

    def hand_to(self, service) -> None:
        self.service = service
        if self.requested:
            service.request_reload()


def _serve(args, once: bool, make_cards: bool = True) -> int:
    reload = DeferredReload()
    reload.install()   # first: the imports and the wait for a bulk pass come after
    from ..daemon.admin.lock import DAEMON, AlreadyRunning, StopRequested
    from ..daemon.compose import compose
    from ..daemon.service import EXIT_LOCKED
    from ..settings.config import load_config
    config = load_config(args.config)
    level = args.log_level if args.log_level != "INFO" else None
    _daemon_logging(config, level)
    try:
        service = compose(config, once=once, make_cards=make_cards)
        reload.hand_to(service)
    except StopRequested as exc:   # SIGTERM while `watch` waited for a bulk pass
        from loguru import logger
        logger.info("{}", exc)
        flush_logs()
        return 0
    except AlreadyRunning as exc:
        _end_helpers(config, level)
        if once and exc.holder_role == DAEMON:   # the nightly timer beside the daemon
            print(f"{PROG}: {exc}; the daemon handles the inbox, so this bulk pass has "
                  f"nothing to do", file=sys.stderr)
            return 0
        print(f"{PROG}: {exc}; it is still going, so this one does not start",
              file=sys.stderr)
        return EXIT_LOCKED
    try:
        code = service.run()
    finally:
        _end_helpers(config, level)
    if once:
        flush_logs()
        print(run_summary(service.summary, config), file=sys.stderr)
    return code


def run_summary(s, config) -> str:
    """The lines `run --once` ends with, from the service's summary; the last says how the
    pass ended and its exit code."""
    from ..core.terminal import escape_controls
    from ..daemon.admin.bulk_pass import verdict_line
    lines = ["", "deepart-batch run --once: summary",
             f"  inputs done   {s.inputs_done:>5}   (archived in {config.state_dir}/done)",
             f"  inputs failed {s.inputs_failed:>5}   (archived in {config.state_dir}/failed)",
             f"  jobs rendered {s.jobs_done:>5}   -> {config.outbox}",
             f"  jobs failed   {s.jobs_failed:>5}",
             f"  photos held   {s.held:>5}   (waiting for the setup; see "
             f"{config.problems.folder}/ in the outbox)",
             f"  duplicates    {s.duplicates:>5}   (identical re-drops, not rendered again)",
             f"  style cards made {s.cards_done:>5}   -> {config.outbox}/_styles"
             + (f", {s.cards_failed} failed" if s.cards_failed else "")]
    for message in s.failures[:10]:
        lines.append(f"  ! {escape_controls(message)}")
    if len(s.failures) > 10:
        lines.append(f"  ... and {len(s.failures) - 10} more (deepart-batch status)")
    lines.append(verdict_line(s))
    return "\n".join(lines)


def cmd_watch(args) -> int:
    return _serve(args, once=False)


def cmd_run(args) -> int:
    return _serve(args, once=True, make_cards=not args.no_cards)


# --- status, retry, repair-journal, prune


EXIT_JOURNAL_BUSY = 75   # EX_TEMPFAIL: another program holds the journal; try again
JOURNAL_BUSY = "the journal is busy (another program holds it); try again"


def _journal_command(func):
    """status, retry, prune: a journal another program holds for longer than
    journal_busy_seconds is one line and EXIT_JOURNAL_BUSY, never a traceback. The
    journal's own log lines about the wait are the daemon's; the command says it once."""
    import functools

    @functools.wraps(func)
    def run(args) -> int:
        import sqlite3

        from loguru import logger

        from ..journal import JournalBusy, is_busy
        logger.disable("deepart_batch.journal")
        try:
            return func(args)
        except (JournalBusy, sqlite3.OperationalError) as exc:
            if not isinstance(exc, JournalBusy) and not is_busy(exc):
                raise
            print(f"{PROG}: {JOURNAL_BUSY}", file=sys.stderr)
            return EXIT_JOURNAL_BUSY
        finally:
            logger.enable("deepart_batch.journal")
    return run


@_journal_command
def cmd_status(args) -> int:
    import json
    from ..daemon.admin.status import collect, render_text
    from ..settings.config import load_config
    info = collect(load_config(args.config))
    print(json.dumps(info, indent=2) if args.json else render_text(_escaped(info)))
    return 0


def _escaped(value):
    """Every text in `value` (nested dicts and lists) with its control characters escaped:
    names from the share reach the terminal as `escape_controls` shows them."""
    from ..core.terminal import escape_controls
    if isinstance(value, str):
        return escape_controls(value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(v) for v in value]
    return value


@_journal_command
def cmd_retry(args) -> int:
    from ..daemon.schedule.retry import RetryRequest, parse_since, retry
    from ..settings.config import load_config
    request = RetryRequest(args.job, args.photo, args.all_failed,
                           parse_since(args.since) if args.since else None, args.force)
    config = load_config(args.config)
    if args.job is not None and not _job_exists(config, args.job):
        print(f"{PROG}: there is no job {args.job}; nothing to retry (see deepart-batch "
              f"status)", file=sys.stderr)
        return 1   # nothing matched, as for --photo: the README's exit code
    from ..core.terminal import escape_controls
    lines = retry(config, request)
    for line in lines:
        print(escape_controls(line))
    if not lines:
        print(f"{PROG}: nothing matched; see deepart-batch status", file=sys.stderr)
        return 1
    return 0


def _job_exists(config, job_id: int) -> bool:
    from ..core.layout import StateLayout
    from ..journal import NotInJournal, open_reader
    try:
        reader = open_reader(StateLayout(Path(config.state_dir)).journal, timeout=5)
    except FileNotFoundError:
        return False
    try:
        reader.job(job_id)
        return True
    except NotInJournal:
        return False
    finally:
        reader.close()


def cmd_repair_journal(args) -> int:
    from ..daemon.admin.recovery import repair_journal
    from ..settings.config import load_config
    message, code = repair_journal(load_config(args.config), args.force)
    print(message)
    return code


@_journal_command
def cmd_prune(args) -> int:
    from ..core.timefmt import parse_duration
    from ..daemon.admin.retention import prune_state_dir
    from ..settings.config import load_config
    config = load_config(args.config)
    try:
        older_than = parse_duration(args.older_than) if args.older_than else \
            config.retention.older_than
    except ValueError as exc:
        raise ParamsError(f"--older-than: {exc}") from None
    if older_than is None:
        raise ParamsError(f"give --older-than (like 30d), or set retention.older_than in "
                          f"{args.config}")
    result = prune_state_dir(Path(config.state_dir), older_than, dry_run=args.dry_run,
                             busy_budget=config.journal_busy_seconds)
    for line in result.skipped:
        print(f"{PROG}: warning: {line}", file=sys.stderr)
    print(("dry run, nothing removed: would have " if args.dry_run else "") +
          result.describe(older_than))
    return 0
