"""Markers from what a test uses: its fixtures, and the code it and its helpers call.

engine: renders with the real engine in this process (weights, StyleTransfer); daemon:
starts processes (the CLI, a watch daemon, `run --once` on a real box, worker pools);
ray: a Ray cluster; browser: Chromium; systemd: systemd tools; gpu: a CUDA device.
A canned box (Box(..., canned=True)) runs the daemon in this process: not `daemon`.
"""

from __future__ import annotations

import functools
import inspect
import types

MARKERS = ("engine", "daemon", "ray", "browser", "systemd", "gpu")   # pyproject.toml

FIXTURES = {
    "engine": {"engine", "weights", "photo", "painting", "render_cache"},
    "ray": {"cluster", "two_nodes", "ray_cluster"},
    "browser": {"browser", "page", "chromium"},
}
TOKENS = {
    "engine": ("StyleTransfer(", "render_request(", "load_weights(", "engine.render(",
               "render_cache"),
    "daemon": ("start_watch(", ".cli(", "run_cli(", "subprocess.", "Popen(", "DevicePool(",
               "CRASH:", "CRASH_AT",   # a run that dies at a crash point is a process
               "multiprocessing", "mp.get_context", "RayExecutor("),
    "ray": ("ray.cluster_utils", "import ray"),
    "browser": ("playwright", "chromium"),
    "systemd": ("systemd-analyze", "systemd_ns", "systemd-run", "unshare"),
    "gpu": ("cuda.is_available()",),
}


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


@functools.lru_cache(maxsize=None)
def _source(obj) -> str | None:
    """inspect.getsource, once per function or module (collection asks for the same
    helpers hundreds of times, once per test of every xdist worker)."""
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return None


def sources(func, depth: int = 3, seen=None) -> list[str]:
    """The source of `func` and of the module-level functions it names, down to `depth`
    calls (test -> helper -> helper's helper). Methods are seen by their call in the text
    (box.start_watch(, box.cli(), not by reading the class."""
    seen = set() if seen is None else seen
    func = inspect.unwrap(func)
    if func in seen or depth < 0:
        return []
    seen.add(func)
    text = _source(func)
    if text is None:
        return []
    out = [text]
    code = getattr(func, "__code__", None)
    module = inspect.getmodule(func)
    if code is None or module is None:
        return out
    for name in _code_names(code):
        obj = module.__dict__.get(name)
        if inspect.isfunction(obj):
            out += sources(obj, depth - 1, seen)
    return out


def markers_for(item) -> set[str]:
    fixtures = set(getattr(item, "fixturenames", ()))
    funcs = [item.function] if hasattr(item, "function") else []
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info else ()):
        funcs += [d.func for d in defs if getattr(d, "baseid", None) is not None
                  and "conftest" not in inspect.getfile(d.func)]
    text = "\n".join(s for f in funcs for s in sources(f))
    module_text = (_source(item.module) or "") if item.module is not None else ""
    found = {m for m, names in FIXTURES.items() if names & fixtures}
    found |= {m for m, tokens in TOKENS.items() if any(t in text for t in tokens)}
    if "run_once(" in text and "canned=True" not in text:
        found.add("daemon")    # run --once on a real box: a subprocess with workers
    for mark in ("ray", "gpu", "browser"):   # module-wide needs (pytestmark, imports)
        if any(t in module_text for t in TOKENS[mark]) and mark in ("ray", "gpu"):
            found.add(mark)
    return found
