"""Kept for imports: the box builder lives in support/boxes.py."""

from support.boxes import Box, stop, wait_for  # noqa: F401
from support.manifests import DATA, MANIFEST  # noqa: F401
