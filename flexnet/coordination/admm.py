"""Consensus ADMM over a pool of agents (Boyd et al. 2011, §7), as a pure algorithm.

Every agent k holds a copy x_k of a share of the consensus variable z: the entries
``z[..., share_k]`` (an index on z's last axis; ``slice(None)`` for all of them). An
iteration calls ``step(λ_k, z_k, ρ)`` on every agent — which returns its copy x_k, its
own cost and its status — then sets z to the mean of the copies of each entry and
λ_k ← λ_k + ρ (x_k − z_k). ρ is residual-balanced (×/÷ 2 when one residual exceeds 10×
the other, §3.4.1; λ is unscaled, so it stays put) and the loop stops by §3.3.1:
‖r‖ ≤ √n ε_abs + ε_rel max(‖x‖, ‖z‖) and ‖s‖ ≤ √n ε_abs + ε_rel ‖λ‖, n the number of
copied entries.

The state — z, λ, ρ and the residual history — is an :class:`AdmmState`; the agents'
models are theirs. Which process runs an agent is the pool's business
(:class:`flexnet.parallel.AgentPool`), so serial and dask runs compute the same iterates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from flexnet.errors import InfeasibleError, SolverError
from flexnet.progress import Ticker
from flexnet.progress import mode as progress_mode

__all__ = ["AdmmState", "Tolerances", "admm"]

Share = slice | np.ndarray


@dataclass(frozen=True)
class Tolerances:
    """Stopping rule: Boyd et al.'s absolute and relative tolerances and an iteration cap."""

    eps_abs: float = 1e-3
    eps_rel: float = 1e-4
    max_iter: int = 500

    def __post_init__(self) -> None:
        if not (self.eps_abs > 0 and self.eps_rel >= 0 and self.max_iter >= 1):
            raise ValueError(f"ADMM tolerances need eps_abs > 0, eps_rel ≥ 0 and "
                             f"max_iter ≥ 1, not {self}")


@dataclass
class AdmmState:
    """Where ADMM stands: consensus, multipliers, penalty and what each iteration did."""

    z: np.ndarray
    lam: list[np.ndarray]
    rho: float
    x: list[np.ndarray] = field(default_factory=list)
    cost: float = np.nan
    converged: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    #: each agent's arguments of the last step (to re-solve an agent rebuilt after it)
    last_args: list[tuple] = field(default_factory=list)

    def gather(self, parts: Sequence[np.ndarray], shares: Sequence[Share]) -> np.ndarray:
        """Per-agent arrays on their shares, put together on z's shape (later ones win)."""
        out = np.zeros_like(self.z)
        for a, s in zip(parts, shares, strict=True):
            out[..., s] = a
        return out


def admm(pool: Any, shares: Sequence[Share], shape: tuple[int, ...], *, rho: float,
         tol: Tolerances = Tolerances(), labels: Sequence[str] | None = None,
         record: Callable[[AdmmState], dict[str, Any]] | None = None,
         scheme: str = "admm", progress: bool = True) -> AdmmState:
    """Run consensus ADMM until converged or ``tol.max_iter``; return the final state.

    Parameters
    ----------
    pool
        Runs ``call("step", args)`` on every agent, in agent order
        (:class:`flexnet.parallel.AgentPool`); a step returns a dict with ``status``,
        ``x`` (the agent's copy, shaped like its share of z), ``cost`` and ``seconds``.
    shares
        Each agent's entries of z on its last axis; every entry needs at least one agent.
    shape
        Shape of z.
    rho
        Initial penalty.
    labels
        The agents' names in errors (default "agent k").
    record
        Extra history entries for each iteration, from the state after it.
    """
    count = np.zeros(shape[-1])
    for s in shares:
        count[s] += 1
    if np.any(count == 0):
        raise ValueError("admm: every entry of z needs at least one agent")
    labels = list(labels) if labels is not None else [f"agent {k}" for k in range(len(shares))]
    z = np.zeros(shape)
    st = AdmmState(z=z, lam=[np.zeros_like(z[..., s]) for s in shares], rho=rho)
    n = float(count.sum() * np.prod(shape[:-1]))
    show = progress and progress_mode() != "0"
    bar = tqdm(total=tol.max_iter, desc="ADMM", disable=not show or progress_mode() != "bar")
    ticker = Ticker("ADMM", show)
    for it in range(tol.max_iter):
        t0 = time.perf_counter()
        st.last_args = [(lam, st.z[..., s], st.rho) for lam, s in zip(st.lam, shares,
                                                                        strict=True)]
        out = pool.call("step", st.last_args)
        bad = [k for k, o in enumerate(out) if o["status"] != "optimal"]
        if bad:
            k = bad[0]
            err = InfeasibleError if "infeasible" in out[k]["status"] else SolverError
            raise err(f"ADMM iteration {it}: the subproblem of {labels[k]} is not solvable",
                      scheme=scheme, status=out[k]["status"],
                      hint="solve the case with scheme='centralized' to locate the cause")
        st.x = [o["x"] for o in out]
        z_old = st.z
        st.z = np.zeros(shape)
        for x, s in zip(st.x, shares, strict=True):
            st.z[..., s] += x
        st.z /= count
        dev = [x - st.z[..., s] for x, s in zip(st.x, shares, strict=True)]
        st.lam = [lam + st.rho * d for lam, d in zip(st.lam, dev, strict=True)]
        # squared norms summed entry by entry, so how agents split z changes no bit
        r = float(np.sqrt(_sq(dev, shares, shape)))
        s_ = st.rho * float(np.sqrt((count * (st.z - z_old) ** 2).sum()))
        eps_pri = np.sqrt(n) * tol.eps_abs + tol.eps_rel * np.sqrt(max(
            _sq(st.x, shares, shape), (count * st.z**2).sum()))
        eps_dual = np.sqrt(n) * tol.eps_abs + tol.eps_rel * np.sqrt(_sq(st.lam, shares, shape))
        st.cost = float(sum(o["cost"] for o in out))
        seconds = [o["seconds"] for o in out]
        st.history.append({"primal_residual": r, "dual_residual": s_, "rho": st.rho,
                           "cost": st.cost, "iteration_s": time.perf_counter() - t0,
                           "largest_solve_s": max(seconds), "solve_sum_s": sum(seconds),
                           "busiest_worker_s": max(pool.loads(seconds)),
                           **(record(st) if record else {})})
        bar.update()
        bar.set_postfix(r=f"{r:.2g}", s=f"{s_:.2g}", rho=f"{st.rho:.3g}")
        ticker.update(iteration=it, primal_residual=f"{r:.3g}", dual_residual=f"{s_:.3g}")
        if it > 0 and r <= eps_pri and s_ <= eps_dual:
            st.converged = True
            break
        if r > 10 * s_:
            st.rho *= 2.0
        elif s_ > 10 * r:
            st.rho /= 2.0
    bar.close()
    return st


def _sq(parts: Sequence[np.ndarray], shares: Sequence[Share], shape: tuple[int, ...]) -> float:
    """Σ_k ‖parts_k‖², accumulated per entry of z first."""
    acc = np.zeros(shape)
    for a, s in zip(parts, shares, strict=True):
        acc[..., s] += a**2
    return float(acc.sum())
