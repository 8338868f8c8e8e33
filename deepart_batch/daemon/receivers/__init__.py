"""Receivers of the service's facts (events.py): the team's notes and notifications, ops
(status file, metrics, systemd), the gallery. None of them changes control flow."""
