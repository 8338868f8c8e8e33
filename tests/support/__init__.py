"""Shared test set-up: one place for boxes, specs, receivers, journal probes and the booted systemd."""
