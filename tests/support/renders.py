"""A render cache for engine tests: one render per set of parameters per session.

Tests that compare against a base render (colour preservation renders the same base for
each mode) ask the cache, so the base is rendered once. Renders whose point is to run the
engine again (determinism, reuse of style targets) call the engine directly."""

from __future__ import annotations

import json


class RenderCache:
    def __init__(self, engine):
        self.engine = engine
        self._results: dict = {}
        self.renders = 0

    @staticmethod
    def key(content, styles, params) -> tuple:
        """Inputs by identity (the session's image tensors), parameters by value."""
        return (id(content), tuple((id(s.image), s.weight) for s in styles),
                json.dumps(params.to_dict(), sort_keys=True, default=str))

    def __call__(self, content, styles, params):
        """The engine's RenderResult for these inputs; shared: do not change it in place."""
        key = self.key(content, styles, params)
        if key not in self._results:
            self._results[key] = self.engine.render(content, list(styles), params)
            self.renders += 1
        return self._results[key]
