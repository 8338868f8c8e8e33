"""The ways jobs come in: one JobSource each (protocol.py), asked in order (registry.py), every
admit and plan behind one guard (guard.py)."""
