"""When a file on the share is ready to take: the settle table and observer (watch.py), and
whether the box's folders are there at all (folder_presence.py)."""
