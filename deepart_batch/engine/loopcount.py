"""Counts what a render loop asks of its device per evaluation: host reads (each one a
device sync on a GPU) and compute ops (each one a kernel launch in eager mode).

Works on any device, the CPU included, so the GPU overhead that the CUDA-graph loop chases can be
counted without a GPU. A graph replay counts as one launch (see `paused`).
"""

from __future__ import annotations

from collections import Counter

from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

# Tensor -> Python conversions: on a GPU each waits for the device.
HOST_READS = frozenset({"tolist", "item", "__bool__", "__float__", "__int__", "__index__"})
# Ops that only make views or metadata; they launch no kernel.
NO_KERNEL = frozenset({
    "view", "_unsafe_view", "t", "permute", "as_strided", "expand", "detach", "alias",
    "select", "slice", "reshape", "squeeze", "unsqueeze", "transpose", "empty",
    "empty_like", "empty_strided", "_local_scalar_dense", "lift_fresh", "diagonal",
    "_reshape_alias", "split", "unbind", "set_", "resolve_conj", "resolve_neg"})


class _Reads(TorchFunctionMode):
    def __init__(self, counter: Counter):
        super().__init__()
        self.counter = counter

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in HOST_READS:
            self.counter["host_reads"] += 1
        return func(*args, **(kwargs or {}))


class _Ops(TorchDispatchMode):
    def __init__(self, counter: Counter, owner: "LoopCounter"):
        super().__init__()
        self.counter, self.owner = counter, owner

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not self.owner.paused:
            name = func.overloadpacket.__name__
            if name not in NO_KERNEL:
                self.counter["launches"] += 1
        return func(*args, **(kwargs or {}))


class LoopCounter:
    """with LoopCounter() as c: ... ; c.counts['host_reads'], c.counts['launches'].
    Set `paused` while running code that a real device would run as one launch."""

    def __init__(self):
        self.counts: Counter = Counter()
        self.paused = False

    def __enter__(self) -> "LoopCounter":
        self._modes = (_Reads(self.counts), _Ops(self.counts, self))
        for m in self._modes:
            m.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for m in reversed(self._modes):
            m.__exit__(*exc)
