"""What runs when: jobs planned from a claimed file (planner.py), the pure retry/hold policy,
holds (holding.py) and the `retry` command's re-queueing (retry.py)."""
