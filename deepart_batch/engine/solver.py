"""Optimisers for one scale, each spending exactly its budget of loss evaluations.

`evaluate(x)` runs one forward and backward pass (filling x.grad) and returns the loss; one
call is one evaluation, the unit `steps` counts in.

`lbfgs` is the engine's one L-BFGS: torch.optim.LBFGS's iterates in the compact
representation (two matrix products over the stored pairs and a few small triangular
solves per iteration, one host read-back per evaluation). The two-loop reference it is
checked against, with torch's own line search, lives in tests/support/lbfgs_oracle.py.
`lbfgs_masked` takes the same iterates with fixed tensor shapes and one read
per evaluation, so that it can be captured with the evaluation; the engine runs it only
when LoopOptions(solver="masked") asks, until a GPU measures it.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from . import linesearch

Evaluate = Callable[[torch.Tensor], torch.Tensor]


class _BudgetSpent(Exception):
    """Raised when the optimiser asks for one evaluation more than its budget."""


class _History:
    """The last `m` curvature pairs (s, y) for the compact L-BFGS form (Byrd, Nocedal and
    Schnabel 1994): H = gamma I + [S gamma Y] M [S gamma Y]^T with M built from the small
    matrices S^T Y and Y^T Y. Pairs live in a ring buffer on the device; the k x k products
    are updated one row and column per new pair (float64), and the chronological order that
    the triangular solves need comes from an age vector sorted on the device, so nothing is
    read back to the host."""

    def __init__(self, m: int, like: torch.Tensor):
        self.m, self.k, self.head, self.count = m, 0, 0, 0
        n, dev = like.numel(), like.device
        self.S = torch.empty(m, n, dtype=like.dtype, device=dev)
        self.Y = torch.empty(m, n, dtype=like.dtype, device=dev)
        self.SY = torch.zeros(m, m, dtype=torch.float64, device=dev)  # SY[i, j] = s_i . y_j
        self.YY = torch.zeros(m, m, dtype=torch.float64, device=dev)
        self.age = torch.zeros(m, dtype=torch.int64, device=dev)

    def clear(self) -> None:
        self.k = self.head = 0

    def add(self, s: torch.Tensor, y: torch.Tensor) -> None:
        slot = self.head
        self.head = (self.head + 1) % self.m
        self.k = min(self.k + 1, self.m)
        self.S[slot].copy_(s)
        self.Y[slot].copy_(y)
        k = self.k
        sy_col = (self.S[:k] @ y).double()   # s_i . y_new
        sy_row = (self.Y[:k] @ s).double()   # s_new . y_j
        yy = (self.Y[:k] @ y).double()
        self.SY[:k, slot] = sy_col
        self.SY[slot, :k] = sy_row
        self.YY[:k, slot] = yy
        self.YY[slot, :k] = yy
        self.age[slot:slot + 1].fill_(self.count)
        self.count += 1

    def direction(self, g: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """-H g; gamma (y.s / y.y of the newest pair) is a device scalar."""
        k = self.k
        if k == 0:
            return g.neg().mul_(gamma)
        gamma = gamma.double()
        S, Y = self.S[:k], self.Y[:k]
        a = (S @ g).double()
        b = (Y @ g).double()
        order = torch.argsort(self.age[:k])            # oldest first
        SY = self.SY[:k, :k].index_select(0, order).index_select(1, order)
        YY = self.YY[:k, :k].index_select(0, order).index_select(1, order)
        R = SY.triu()
        p = torch.linalg.solve_triangular(R, a[order, None], upper=True)
        w = SY.diagonal()[:, None] * p + gamma * (YY @ p) - gamma * b[order, None]
        u = torch.linalg.solve_triangular(R.t(), w, upper=False)
        coef_s = torch.empty(k, dtype=torch.float64, device=g.device).index_copy_(0, order, u[:, 0])
        coef_y = torch.empty(k, dtype=torch.float64, device=g.device).index_copy_(0, order, p[:, 0])
        coef_y.mul_(gamma)
        hg = coef_s.to(g.dtype) @ S
        hg.sub_(coef_y.to(g.dtype) @ Y).add_(g * gamma.to(g.dtype))
        return hg.neg_()


class _Evaluations:
    """The solver's view of `evaluate`: at most `steps` calls, the best point kept, and one
    read-back per call (the loss, g . d and whatever `extra` device scalars the caller
    wants read with them)."""

    def __init__(self, x: torch.Tensor, evaluate: Evaluate, steps: int):
        self.x, self.evaluate, self.steps = x, evaluate, steps
        self.best, self.best_loss, self.count = x.detach().clone(), math.inf, 0

    def __call__(self, point: torch.Tensor, d: torch.Tensor | None, extra=()):
        """(loss, gradient, g . d, extra values); g . d is 0 when d is None."""
        if self.count >= self.steps:
            raise _BudgetSpent
        x = self.x
        with torch.no_grad():
            x.copy_(point.view_as(x))
        x.grad = None
        with torch.enable_grad():
            loss = self.evaluate(x)
        self.count += 1
        g = x.grad.reshape(-1)
        slope = g.new_zeros(()) if d is None else g.dot(d)
        read = torch.stack([loss.detach().reshape(()).to(g.dtype), slope,
                            *(e.to(g.dtype) for e in extra)]).tolist()
        if read[0] < self.best_loss:
            self.best_loss = read[0]
            self.best.copy_(x.detach())
        return read[0], g, read[1], read[2:]


def _check(line_search) -> None:
    if line_search not in ("strong_wolfe", None):
        raise ValueError(f"line_search must be 'strong_wolfe' or None, got {line_search!r}")


def lbfgs(x: torch.Tensor, evaluate: Evaluate, steps: int, lr: float = 1.0,
          history: int = 100, line_search: str | None = "strong_wolfe") -> None:
    """L-BFGS with torch.optim.LBFGS's iterates (its direction, first step and strong Wolfe
    line search, to rounding; tests/support/lbfgs_oracle.py is the reference), with the host
    reading the device once per evaluation (loss and g . d together) plus once per
    iteration (g . d and max|d| of the new direction), and a constant number of kernel
    launches per iteration instead of four per stored pair. The curvature test uses
    y . s = t (g_new . d - g . d), which the host already holds.
    Spends exactly `steps` evaluations; leaves the best point seen in x."""
    if steps <= 0:
        return
    _check(line_search)
    evals = _Evaluations(x, evaluate, steps)

    def loss_and_grad(flat: torch.Tensor, d: torch.Tensor | None):
        return evals(flat, d)[:3]

    with torch.no_grad():
        flat = x.detach().reshape(-1).clone()
        pairs = _History(min(history, steps), flat)  # never more pairs than iterations
        try:
            loss, g, _ = loss_and_grad(flat, None)
            d, t, g_prev, gamma, first = None, 0.0, None, flat.new_ones(()), True
            gtd = gtd_new = 0.0
            while True:
                if first:
                    d = g.neg()
                else:
                    if t * (gtd_new - gtd) > 1e-10:  # curvature condition, y . s > 0
                        y, s = g - g_prev, d * t
                        pairs.add(s, y)
                        gamma = y.dot(s) / y.dot(y)  # stays on the device
                    d = pairs.direction(g, gamma)
                gtd, d_norm, g_sum = torch.stack(
                    [g.dot(d), d.abs().max(), g.abs().sum() if first else g.new_zeros(())]).tolist()
                if first:  # torch's min(1, 1/|g|_1), which is 1 at a zero gradient
                    t = (min(1.0, 1.0 / g_sum) if g_sum > 0 else 1.0) * lr
                else:
                    t = lr
                if gtd >= 0:  # not a descent direction
                    if first:
                        break  # zero gradient: nothing left to do
                    pairs.clear()
                    gamma, first = flat.new_ones(()), True  # drop the memory, restart
                    continue
                first = False
                g_prev = g
                if line_search == "strong_wolfe":
                    def phi(step: float, flat=flat, d=d):
                        return loss_and_grad(flat + step * d, d)
                    loss, g, t, gtd_new, _ = linesearch.strong_wolfe(
                        phi, t, loss, g, gtd, d_norm, max_ls=steps - evals.count)
                    flat.add_(d, alpha=t)
                else:
                    flat.add_(d, alpha=t)
                    loss, g, gtd_new = loss_and_grad(flat, d)
        except _BudgetSpent:
            pass
        x.copy_(evals.best)


class _FixedHistory:
    """The compact form of _History over a fixed-shape history: all m slots always take
    part, the empty ones masked to nothing (their rows of the triangular systems are the
    identity, their coefficients zero), and the ring position is a device tensor. No shape
    and no index depends on how many pairs are stored, so direction() and add() are the
    same kernels at every iteration: one CUDA graph can hold them with the evaluation."""

    def __init__(self, m: int, like: torch.Tensor):
        n, dev, f64 = like.numel(), like.device, torch.float64
        self.m = m
        self.S = torch.zeros(m, n, dtype=like.dtype, device=dev)  # zeros: 0 * stale is 0
        self.Y = torch.zeros(m, n, dtype=like.dtype, device=dev)
        self.SY = torch.zeros(m, m, dtype=f64, device=dev)      # SY[i, j] = s_i . y_j
        self.YY = torch.zeros(m, m, dtype=f64, device=dev)
        self.mask = torch.zeros(m, dtype=f64, device=dev)       # 1 where a pair is stored
        self.head = torch.zeros(1, dtype=torch.int64, device=dev)  # the slot written next
        self.slots = torch.arange(m, device=dev)

    def clear(self) -> None:
        self.mask.zero_()
        self.head.zero_()

    def add(self, s: torch.Tensor, y: torch.Tensor) -> None:
        at = self.head
        self.S.index_copy_(0, at, s[None])
        self.Y.index_copy_(0, at, y[None])
        self.mask.index_fill_(0, at, 1.0)
        self.SY.index_copy_(1, at, (self.S @ y).double()[:, None])  # s_i . y_new
        self.SY.index_copy_(0, at, (self.Y @ s).double()[None])     # s_new . y_j
        yy = (self.Y @ y).double()
        self.YY.index_copy_(1, at, yy[:, None])
        self.YY.index_copy_(0, at, yy[None])
        self.head.add_(1).remainder_(self.m)

    def direction(self, g: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """-H g; gamma (y.s / y.y of the newest pair, 1 with none) is a device scalar."""
        gamma = gamma.double()
        order = (self.head + self.slots) % self.m   # oldest first; empty slots decoupled
        mask = self.mask[order]
        both = mask[:, None] * mask[None, :]
        SY = self.SY[order][:, order] * both
        YY = self.YY[order][:, order] * both
        R = SY.triu() + torch.diag(1 - mask)
        a = ((self.S @ g).double()[order] * mask)[:, None]
        b = ((self.Y @ g).double()[order] * mask)[:, None]
        p = torch.linalg.solve_triangular(R, a, upper=True)
        w = SY.diagonal()[:, None] * p + gamma * (YY @ p) - gamma * b
        u = torch.linalg.solve_triangular(R.t(), w, upper=False)
        coef_s = torch.zeros_like(mask).index_copy_(0, order, u[:, 0])
        coef_y = torch.zeros_like(mask).index_copy_(0, order, p[:, 0]).mul_(gamma)
        hg = coef_s.to(g.dtype) @ self.S
        hg.sub_(coef_y.to(g.dtype) @ self.Y).add_(g * gamma.to(g.dtype))
        return hg.neg_()


def lbfgs_masked(x: torch.Tensor, evaluate: Evaluate, steps: int, lr: float = 1.0,
                 history: int = 100, line_search: str | None = "strong_wolfe") -> None:
    """lbfgs() with fixed shapes and one host read per evaluation.

    The direction comes from _FixedHistory. The descent test and torch's restart (drop
    the memory, steepest descent with the first step min(1, 1/|g|_1) lr) are chosen on the
    device, and the line search's first trial is evaluated before anything is read: its
    loss and slope come back in one read with g . d, max|d|, the step and whether it
    restarted. Same iterates as lbfgs() to rounding; differs only at an exact zero
    gradient, where it spends one evaluation (at the same point) before stopping."""
    if steps <= 0:
        return
    _check(line_search)
    evals = _Evaluations(x, evaluate, steps)
    with torch.no_grad():
        flat = x.detach().reshape(-1).clone()
        pairs = _FixedHistory(min(history, steps), flat)
        one = flat.new_ones(())
        try:
            loss, g, _, _ = evals(flat, None)
            gamma, first, t, gtd, gtd_new, g_prev, d = one, True, 0.0, 0.0, 0.0, None, None
            while True:
                restart_step = (1.0 / g.abs().sum()).clamp(max=1.0) * lr
                if first:
                    d, step, restarted = g.neg(), restart_step, one
                else:
                    if t * (gtd_new - gtd) > 1e-10:  # curvature condition, y . s > 0
                        y, s = g - g_prev, d * t
                        pairs.add(s, y)
                        gamma = y.dot(s) / y.dot(y)
                    d = pairs.direction(g, gamma)
                    restarted = g.dot(d) >= 0  # not a descent direction
                    d = torch.where(restarted, g.neg(), d)
                    step = torch.where(restarted, restart_step, one * lr)
                g_prev = g
                f_new, g_new, gtd_new, (gtd, d_norm, t, again) = evals(
                    flat + step * d, d, (g.dot(d), d.abs().max(), step, restarted))
                if again:
                    pairs.clear()
                    gamma = one
                if gtd >= 0:  # also after a restart: the gradient is zero
                    break
                first = False
                if line_search == "strong_wolfe":
                    def phi(trial: float, flat=flat, d=d):
                        return evals(flat + trial * d, d)[:3]
                    loss, g, t, gtd_new, _ = linesearch.strong_wolfe(
                        phi, t, loss, g, gtd, d_norm, max_ls=steps - evals.count + 1,
                        first=(f_new, g_new, gtd_new))
                else:
                    loss, g = f_new, g_new
                flat.add_(d, alpha=t)
        except _BudgetSpent:
            pass
        x.copy_(evals.best)


def adam(x: torch.Tensor, evaluate: Evaluate, steps: int, lr: float = 0.02) -> None:
    """Adam, one evaluation per step, with the image kept in [0, 1]."""
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        x.grad = None
        evaluate(x)
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
