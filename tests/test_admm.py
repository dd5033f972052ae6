"""Consensus ADMM as a pure function: a toy problem with a known optimum."""

from __future__ import annotations

import numpy as np
import pytest

from flexnet.coordination.admm import Tolerances, admm
from flexnet.parallel import AgentPool


class Quadratic:
    """min ½‖x − a‖² + λᵀx + ρ/2‖x − z‖², in closed form (the agent's "LP")."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def step(self, lam: np.ndarray, z: np.ndarray, rho: float) -> dict:
        x = (self.a - lam + rho * z) / (1 + rho)
        return {"status": "optimal", "x": x, "cost": float(0.5 * ((x - self.a) ** 2).sum()),
                "seconds": 0.0}


def test_consensus_reaches_the_mean_of_the_agents_targets():
    """One agent holds all of z, two others half each: each entry's optimum is the mean of
    its holders' targets."""
    rng = np.random.default_rng(0)
    shape = (2, 3, 4)
    a = [rng.normal(size=shape), rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 2))]
    shares = [slice(None), np.array([0, 1]), np.array([2, 3])]
    with AgentPool([Quadratic(x) for x in a]) as pool:
        st = admm(pool, shares, shape, rho=1.0, tol=Tolerances(1e-8, 1e-8, 500),
                  progress=False)
    assert st.converged
    want = 0.5 * (a[0] + st.gather(a[1:], shares[1:]))
    np.testing.assert_allclose(st.z, want, atol=1e-6)
    assert [h["primal_residual"] for h in st.history][-1] < 1e-6
    assert len(st.last_args) == 3


def test_every_entry_needs_an_agent_and_tolerances_are_checked():
    with AgentPool([Quadratic(np.zeros((1, 2)))]) as pool, \
            pytest.raises(ValueError, match="every entry of z"):
        admm(pool, [np.array([0])], (1, 3), rho=1.0, progress=False)
    with pytest.raises(ValueError, match="ADMM tolerances"):
        Tolerances(eps_abs=0)
