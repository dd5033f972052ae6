"""Transmission topology: incidence, a sparse factorization of the DC susceptance matrix
and what follows from it (flows, PTDF rows, PTDFᵀ·μ) without a dense PTDF.

The DC model: flows f = diag(b) A θ with b = base_mva / x and the bus angles θ solving
B θ = P, B = Aᵀ diag(b) A, with θ = 0 at one reference bus. :class:`DCNetwork` factorizes
the reduced B (reference row and column removed) once with SuperLU
(``scipy.sparse.linalg.splu``) and caches it on the system; then

- ``flows(P)`` = diag(b) A B⁻¹ P: two triangular solves per snapshot, O(nnz(LU));
- ``ptdf_rows(lines)`` = the PTDF rows of a few lines, diag(b_l) A_l B⁻¹ (B is
  symmetric, so one solve with A_lᵀ as right-hand sides), entries below
  :data:`DROP_TOL` set to zero; memory is lines × buses, never lines × buses for all lines;
- ``ptdf_t(mu)`` = PTDFᵀ μ, what turns line duals into LMP components, by one solve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import xarray as xr
from scipy.sparse.csgraph import breadth_first_order, connected_components
from scipy.sparse.linalg import splu, spsolve

from flexnet.errors import DataError

if TYPE_CHECKING:
    from flexnet.grid.system import System

__all__ = ["DROP_TOL", "DCNetwork", "dc_flows", "dc_network", "downstream_sum", "incidence",
           "orient_tree", "path_sums"]

#: PTDF entries with |value| below this (MW/MW) are dropped from rows put into a model.
#: A dropped entry changes a flow by at most DROP_TOL × the bus injection; on ACTIVSg2000
#: (injections ≤ 2 GW) that is ≤ 2e-7 MW per entry, far inside HiGHS's 1e-7 relative
#: feasibility tolerance on line rows of hundreds of MW.
DROP_TOL = 1e-10


def incidence(system: System) -> sp.csr_matrix:
    """Line × bus incidence matrix (+1 at the from bus, −1 at the to bus)."""
    ds = system.ds
    buses = ds.indexes["bus"]
    a = buses.get_indexer(ds.line_bus0.values)
    b = buses.get_indexer(ds.line_bus1.values)
    n_l = a.size
    return sp.csr_matrix((np.r_[np.ones(n_l), -np.ones(n_l)],
                          (np.r_[np.arange(n_l), np.arange(n_l)], np.r_[a, b])),
                         shape=(n_l, buses.size))


class DCNetwork:
    """The factorized DC network of a system (see the module docstring).

    Parameters
    ----------
    system : System
        Needs ``bus``, ``line``, ``line_bus0/1``, ``line_x`` and ``base_mva``.

    Raises
    ------
    DataError
        If the grid has islands (the message names a bus of the smallest).
    """

    def __init__(self, system: System) -> None:
        ds = system.ds
        self.buses = ds.indexes["bus"]
        self.lines = ds.indexes["line"]
        self.A = incidence(system)
        n, labels = connected_components(self.A.T @ self.A, directed=False)
        if n > 1:
            sizes = np.bincount(labels)
            small = np.flatnonzero(labels == np.argmin(sizes))
            raise DataError(f"bus {ds.bus.values[small[0]]!r}: the transmission grid has "
                            f"{n} islands (smallest: {sizes.min()} buses); connect it or split it")
        self.b = float(ds.attrs["base_mva"]) / ds.line_x.values
        phi = np.deg2rad(ds.line_shift.values) if "line_shift" in ds else np.zeros(self.b.size)
        #: phase shifters: f = b (Aθ − φ) = PTDF (P + Aᵀ b φ) − b φ; these are the two terms
        self.shift_flow = self.b * phi
        self.shift_injection = self.A.T @ self.shift_flow
        self.ref = 0
        self.keep = np.arange(1, self.buses.size)
        self._B = (self.A.T @ sp.diags(self.b) @ self.A).tocsc()
        self._factor = None  # on first use: the angle model needs the island check only
        self._key = _key(system)

    @property
    def _lu(self):
        if self._factor is None:
            self._factor = splu(self._B[self.keep][:, self.keep].tocsc())
        return self._factor

    def _solve(self, rhs: np.ndarray) -> np.ndarray:
        """θ (bus × k) for injections ``rhs`` (bus × k), θ_ref = 0."""
        theta = np.zeros((self.buses.size, rhs.shape[1]))
        if self.keep.size:
            theta[self.keep] = self._lu.solve(np.ascontiguousarray(rhs[self.keep]))
        return theta

    def flows(self, injection: xr.DataArray) -> xr.DataArray:
        """Line flows (snapshot, line) in MW for net injections (snapshot, bus) in MW."""
        p = injection.transpose("snapshot", "bus").reindex(bus=self.buses).values
        p = p + self.shift_injection[None, :]
        f = (self.b[:, None] * (self.A @ self._solve(p.T))).T - self.shift_flow[None, :]
        return xr.DataArray(f, coords=[injection.indexes["snapshot"], self.lines],
                            dims=["snapshot", "line"])

    def ptdf_rows(self, lines: np.ndarray) -> np.ndarray:
        """PTDF rows (len(lines) × bus) of the lines at positions ``lines``, MW/MW."""
        lines = np.asarray(lines, dtype=int)
        rhs = self.A[lines].T.toarray()  # bus × k
        H = (self._solve(rhs) * self.b[lines][None, :]).T
        H[np.abs(H) < DROP_TOL] = 0.0
        return H

    def ptdf(self) -> xr.DataArray:
        """The whole PTDF (line × bus): for small systems and tests only."""
        return xr.DataArray(self.ptdf_rows(np.arange(self.lines.size)),
                            coords=[self.lines, self.buses], dims=["line", "bus"])

    def ptdf_t(self, mu: xr.DataArray) -> xr.DataArray:
        """PTDFᵀ μ (snapshot, bus) for line values μ (snapshot, line)."""
        m = mu.transpose("snapshot", "line").reindex(line=self.lines).fillna(0.0).values
        out = self._solve(self.A.T @ (self.b[:, None] * m.T)).T
        return xr.DataArray(out, coords=[mu.indexes["snapshot"], self.buses],
                            dims=["snapshot", "bus"])


def _key(system: System) -> tuple:
    ds = system.ds
    shift = ds.line_shift.values.tobytes() if "line_shift" in ds else b""
    return (tuple(ds.indexes["bus"]), tuple(ds.line_bus0.values), tuple(ds.line_bus1.values),
            ds.line_x.values.tobytes(), shift, float(ds.attrs["base_mva"]))


def dc_network(system: System) -> DCNetwork:
    """The system's :class:`DCNetwork`, factorized once and cached on the system (a
    changed topology or reactance is noticed and refactorized)."""
    net = getattr(system, "_dc_network", None)
    if net is None or net._key != _key(system):
        net = DCNetwork(system)
        system._dc_network = net
    return net


def dc_flows(n: int, a: np.ndarray, b: np.ndarray, x: np.ndarray, inj: np.ndarray) -> np.ndarray:
    """DC flows on lines (a → b, reactance x) for nodal injections, slack at node 0, before
    any :class:`~flexnet.System` exists (synthetic grids' ratings)."""
    y = 1.0 / x
    B = sp.coo_matrix((np.concatenate([y, y, -y, -y]),
                       (np.concatenate([a, b, a, b]), np.concatenate([a, b, b, a]))),
                      shape=(n, n)).tocsc()
    theta = np.zeros(n)
    theta[1:] = spsolve(B[1:, 1:], inj[1:])
    return (theta[a] - theta[b]) * y


def orient_tree(n: int, a: np.ndarray, b: np.ndarray, root: int,
                name: str) -> tuple[np.ndarray, np.ndarray]:
    """Orient the edges (a, b) of a tree on ``n`` nodes away from ``root``: (parent, child).

    Raises
    ------
    DataError
        If the edges do not form one connected tree (``name`` names the feeder).
    """
    adj = sp.coo_matrix((np.ones(a.size), (a, b)), shape=(n, n))
    order, pred = breadth_first_order(adj, root, directed=False, return_predecessors=True)
    if order.size != n or a.size != n - 1:
        raise DataError(f"feeder {name}: not a connected radial network ({n} buses, "
                        f"{a.size} in-service branches)")
    forward = pred[b] == a
    return np.where(forward, a, b), np.where(forward, b, a)


def _tree_solve(rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> np.ndarray:
    # (I − A) s = v with A nilpotent on a forest: one sparse solve, any node order
    n = values.size
    A = sp.csc_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    return np.atleast_1d(spsolve(sp.identity(n, format="csc") - A, values))


def downstream_sum(parent: np.ndarray, child: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Σ of per-node ``values`` over each node and everything below it, on a forest."""
    return _tree_solve(parent, child, values)


def path_sums(parent: np.ndarray, child: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Σ of per-edge ``values`` (edge k: parent[k] → child[k]) along the path from each
    node's root, for the ``n`` nodes of a forest."""
    v = np.zeros(n)
    v[child] = values
    return _tree_solve(child, parent, v)
