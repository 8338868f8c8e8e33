"""Looking after the box: status, retention, recovery, reload, the lock, the bulk pass."""
