"""`repair-journal` lives in daemon/recovery.py (recovery is one concept); this name stays
only until cli.py imports `recovery.repair_journal` (the commands/ rewrite)."""

from .recovery import repair_journal

__all__ = ["repair_journal"]
