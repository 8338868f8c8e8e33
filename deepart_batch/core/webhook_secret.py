"""A Standard Webhooks signing secret: `whsec_` and the base64 of 24 to 64 random bytes.

Held as an object whose text never shows: repr and str say where it came from, never what
it is, so a secret that reaches a log line, `status`, a report or `validate` output by
accident prints as `<webhook secret from notify.secret_file>`. `text` gives the secret
itself, for the one place that must print it (`deepart-batch notify secret`).
"""

from __future__ import annotations

import base64
import binascii
import secrets

PREFIX = "whsec_"
MIN_BYTES, MAX_BYTES = 24, 64     # the Standard Webhooks 1.0 recommendation
NEW_BYTES = 32


class BadSecret(ValueError):
    """The text is not a whsec_ secret; the message never repeats the text."""


class WebhookSecret:
    """The HMAC key of one endpoint; `key` is the base64-decoded part after `whsec_`."""

    __slots__ = ("key", "origin")

    def __init__(self, key: bytes, origin: str = "a secret"):
        if not MIN_BYTES <= len(key) <= MAX_BYTES:
            raise BadSecret(f"a webhook secret holds {MIN_BYTES} to {MAX_BYTES} bytes, not "
                            f"{len(key)}")
        self.key, self.origin = bytes(key), origin

    @classmethod
    def parse(cls, text: object, origin: str = "a secret") -> "WebhookSecret":
        """`whsec_<base64>`, surrounding white space ignored (a file's final newline)."""
        want = (f"a Standard Webhooks secret: whsec_ followed by the base64 of {MIN_BYTES} to "
                f"{MAX_BYTES} random bytes; make one with `deepart-batch notify secret`")
        if not isinstance(text, str):
            raise BadSecret(f"not text; use {want}")
        text = text.strip()
        if not text.startswith(PREFIX):
            raise BadSecret(f"does not start with {PREFIX}; use {want}")
        body = text[len(PREFIX):]
        try:
            key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise BadSecret(f"the part after {PREFIX} is not base64; use {want}") from None
        if not MIN_BYTES <= len(key) <= MAX_BYTES:
            raise BadSecret(f"the part after {PREFIX} decodes to {len(key)} bytes; use {want}")
        return cls(key, origin)

    @classmethod
    def new(cls) -> "WebhookSecret":
        return cls(secrets.token_bytes(NEW_BYTES), "a new secret")

    @property
    def text(self) -> str:
        """The secret as configured (whsec_...): only `notify secret` prints this."""
        return PREFIX + base64.b64encode(self.key).decode("ascii")

    def __repr__(self) -> str:
        return f"<webhook secret from {self.origin}>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WebhookSecret) and secrets.compare_digest(self.key, other.key)

    def __hash__(self) -> int:
        return hash(self.key)

    def __deepcopy__(self, memo) -> "WebhookSecret":
        return self                      # immutable; dataclasses.asdict copies values
