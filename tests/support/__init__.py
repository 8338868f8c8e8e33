"""Shared test set-up: one place for boxes, specs, receivers and journal probes."""
