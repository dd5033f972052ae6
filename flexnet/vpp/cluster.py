"""K-medoids: FasterPAM from the ``kmedoids`` package, seeded by Canopy.

scikit-learn-extra's ``KMedoids`` (PAM) is an optional second backend. Sets larger than
``max_exact`` points are clustered CLARA-style (Kaufman & Rousseeuw 1990): FasterPAM on
random samples of ``max_exact`` points (plus the current best medoids), each candidate
scored on all points in chunks, so memory holds at most max_exact² distances
(5,000 → 200 MB) plus O(n·K).
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist

from flexnet.vpp.canopy import canopy

__all__ = ["Clustering", "cluster", "has_sklearn_extra", "kmedoids"]

MAX_EXACT = 5000


@dataclass
class Clustering:
    """K-medoids result: ``medoids`` (row numbers), ``labels`` and the ``loss``
    (Σ distance of every point to its medoid); ``k_canopy`` is the K Canopy found."""

    medoids: np.ndarray
    labels: np.ndarray
    loss: float
    backend: str
    k_canopy: int


def has_sklearn_extra() -> bool:
    """Whether the optional scikit-learn-extra backend can be imported."""
    return importlib.util.find_spec("sklearn_extra") is not None


def _assign(X: np.ndarray, medoids: np.ndarray, chunk: int = 65536) -> tuple[np.ndarray, float]:
    labels = np.empty(X.shape[0], dtype=int)
    loss = 0.0
    for s in range(0, X.shape[0], chunk):
        d = cdist(X[s:s + chunk], X[medoids])
        labels[s:s + chunk] = d.argmin(1)
        loss += float(d.min(1).sum())
    return labels, loss


def _exact(X: np.ndarray, init: np.ndarray, backend: str, seed: int) -> np.ndarray:
    if backend == "sklearn-extra":
        if not has_sklearn_extra():
            raise ImportError("backend 'sklearn-extra' needs scikit-learn-extra; see "
                              "DEVELOPERS.md for its source build")
        with warnings.catch_warnings():  # it imports distutils' deprecated Version
            warnings.simplefilter("ignore", DeprecationWarning)
            from sklearn_extra.cluster import KMedoids

        km = KMedoids(n_clusters=init.size, metric="euclidean", method="pam",
                      init=X[init], max_iter=300, random_state=seed).fit(X)
        return np.asarray(km.medoid_indices_)
    if backend != "fasterpam":
        raise ValueError(f"unknown K-medoids backend {backend!r}; use 'fasterpam' or "
                         "'sklearn-extra'")
    import kmedoids as km_pkg

    res = km_pkg.fasterpam(cdist(X, X), init.copy(), max_iter=100, n_cpu=1)
    return np.asarray(res.medoids)


def kmedoids(X: np.ndarray, init: np.ndarray, *, backend: str = "fasterpam", seed: int = 0,
             max_exact: int = MAX_EXACT, samples: int = 5) -> tuple[np.ndarray, np.ndarray, float]:
    """K-medoids from initial medoids ``init`` (row numbers); returns (medoids, labels, loss).

    Above ``max_exact`` points, CLARA: ``samples`` random subsets, best total loss wins.
    """
    X = np.asarray(X, dtype=float)
    n = X.shape[0]
    init = np.asarray(init, dtype=int)
    if n <= max_exact:
        med = _exact(X, init, backend, seed)
        labels, loss = _assign(X, med)
        return med, labels, loss
    rng = np.random.default_rng(seed)
    best, best_loss = init, _assign(X, init)[1]
    for _ in range(samples):
        others = np.setdiff1d(np.arange(n), best)
        sub = np.r_[best, rng.choice(others, size=max_exact - best.size, replace=False)]
        med = sub[_exact(X[sub], np.arange(best.size), backend, seed)]
        loss = _assign(X, med)[1]
        if loss < best_loss:
            best, best_loss = med, loss
    labels, loss = _assign(X, best)
    return best, labels, loss


def cluster(X: np.ndarray, *, t1: float | None = None, t2: float | None = None,
            backend: str = "fasterpam", seed: int = 0, max_exact: int = MAX_EXACT) -> Clustering:
    """Canopy for K and the initial medoids, then K-medoids.

    Parameters
    ----------
    X : ndarray (n, features)
        Scaled features.
    t1, t2 : float, optional
        Canopy thresholds (default: :func:`flexnet.vpp.canopy.default_thresholds`).
    backend : {"fasterpam", "sklearn-extra"}
    """
    c = canopy(X, t1, t2, seed=seed)
    med, labels, loss = kmedoids(X, c.centers, backend=backend, seed=seed, max_exact=max_exact)
    order = np.argsort(med)  # label clusters by medoid row: stable across backends
    med = med[order]
    labels = np.argsort(order)[labels]
    return Clustering(medoids=med, labels=labels, loss=loss, backend=backend,
                      k_canopy=int(c.centers.size))
