"""The hot-folder daemon: watch, intake, journal, outbox, and the service loop that joins them."""
