"""The journal: the single source of truth for photos (inputs) and renders (jobs).

schema.py   the tables and their migrations
records.py  Input, Job, Delivery (the notification delivery log) and the errors
reader.py   the read API (JournalReader, open_reader for read-only processes)
store.py    Journal: the reads plus every write, through the guarded transitions
busy.py     writes wait out another program's lock, then raise JournalBusy
"""

from ..core.states import InvalidTransition
from .busy import BUDGET_SECONDS, WAIT_SECONDS, is_busy
from .reader import JournalReader, open_reader
from .totals import JOB_STATES
from .records import (Delivery, Input, Job, JournalBusy, JournalDamaged, JournalUnavailable,
                      NotInJournal)
from .schema import SCHEMA
from .store import Journal

__all__ = ["BUDGET_SECONDS", "Delivery", "WAIT_SECONDS", "InvalidTransition", "Input", "Job",
           "JOB_STATES", "Journal", "JournalBusy", "JournalDamaged", "JournalReader",
           "JournalUnavailable", "NotInJournal", "SCHEMA", "is_busy", "open_reader"]
