"""Canopy clustering (McCallum, Nigam & Ungar, KDD 2000), vectorized numpy.

No maintained library implements Canopy, so it is written here. It only needs distances
from each canopy centre to the remaining points, so memory is O(n) per canopy and never
an n × n matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Canopies", "canopy", "default_thresholds"]


@dataclass
class Canopies:
    """Result of :func:`canopy`.

    Attributes
    ----------
    centers : ndarray of int
        Row of the centre of each merged canopy (the initial medoids); ``K = centers.size``.
    labels : ndarray of int
        Canopy of each point: the nearest centre (every point lies within T1 of its own
        canopy's centre or was itself a centre).
    t1, t2 : float
        Loose and tight thresholds used.
    raw : int
        Number of canopies before centres closer than T1 were merged.
    """

    centers: np.ndarray
    labels: np.ndarray
    t1: float
    t2: float
    raw: int


def default_thresholds(X: np.ndarray, seed: int = 0, sample: int = 2000) -> tuple[float, float]:
    """Documented default (T1, T2) from the distance distribution of a sample.

    T2 (tight) is the median over points of the distance to their ⌈n^(1/3)⌉-th nearest
    neighbour — a local within-group radius — and T1 = 2.5·T2 (loose), so canopy centres
    of one group chain together while separated groups stay apart. Chosen by measurement
    on separated Gaussian blobs (K = 2…10, four seeds each: all exact, where ⌈ln n⌉ or
    T1 = 3·T2 missed some). At most
    ``sample`` points are used (sample² distances).
    """
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    S = X[rng.choice(n, size=min(n, sample), replace=False)]
    d = np.sqrt(((S[:, None, :] - S[None, :, :]) ** 2).sum(-1))
    k = max(1, min(int(np.ceil(S.shape[0] ** (1 / 3))), S.shape[0] - 1))
    t2 = float(np.median(np.partition(d, k, axis=1)[:, k]))
    t2 = t2 if t2 > 0 else float(d.max()) or 1.0
    return 2.5 * t2, t2


def canopy(X: np.ndarray, t1: float | None = None, t2: float | None = None,
           seed: int = 0, min_fraction: float = 0.01, max_points: int = 2000) -> Canopies:
    """Canopy clustering with loose/tight thresholds T1 > T2.

    Points are visited in a seeded random order. The first point still available becomes a
    centre; points within T2 of it are no longer available as centres (points within T1
    belong to the canopy). Centres closer than T1 to each other are then merged (single
    linkage on the centres), which makes K robust to the visiting order; the centre with
    the largest canopy represents each merged group. Deterministic for a seed. Deterministic for a seed.

    Parameters
    ----------
    X : ndarray (n, features)
        Points, already scaled (see :func:`flexnet.vpp.features`).
    t1, t2 : float, optional
        Thresholds; default :func:`default_thresholds`.
    seed : int
        Order of visits.
    min_fraction : float
        Merged canopies holding fewer points than this fraction of n (outliers) are
        folded into their nearest neighbour and do not count towards K.
    max_points : int
        Above this many points, the canopies are found on a seeded random sample of this
        size (centres are sample rows mapped back to X) and every point is then assigned
        to its nearest centre: the thresholds and K then do not drift with n, and the
        cost stays O(max_points · canopies + n · K).
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"canopy: X must be a non-empty 2-D array, got shape {X.shape}")
    if X.shape[0] > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(X.shape[0], max_points, replace=False))
        sub = canopy(X[rows], t1, t2, seed=seed, min_fraction=min_fraction,
                     max_points=max_points)
        centers = rows[sub.centers]
        return Canopies(centers=centers, labels=nearest(X, X[centers]), t1=sub.t1, t2=sub.t2,
                        raw=sub.raw)
    if t1 is None or t2 is None:
        d1, d2 = default_thresholds(X, seed)
        t1 = d1 if t1 is None else t1
        t2 = d2 if t2 is None else t2
    if not t1 > t2 > 0:
        raise ValueError(f"canopy: thresholds must satisfy T1 > T2 > 0, got T1={t1}, T2={t2}")
    n = X.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    available = np.ones(n, dtype=bool)
    centers, sizes = [], []
    for i in order:  # one pass per canopy (K iterations), each vectorized over all points
        if not available[i]:
            continue
        d = np.sqrt(((X - X[i]) ** 2).sum(axis=1))
        centers.append(i)
        sizes.append(int((d < t1).sum()))
        available &= d >= t2
        available[i] = False
    centers_a = np.array(centers)
    C = X[centers_a]
    dc = np.sqrt(((C[:, None, :] - C[None, :, :]) ** 2).sum(-1))
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    _, group = connected_components(csr_matrix(dc < t1), directed=False)
    sizes_a = np.array(sizes)
    keep = np.array([centers_a[group == g][np.argmax(sizes_a[group == g])]
                     for g in range(group.max() + 1)])
    labels = nearest(X, X[keep])
    # stray canopies (a few outliers) do not make a cluster: fold them into the nearest
    counts = np.bincount(labels, minlength=keep.size)
    big = counts >= max(2, min_fraction * n)
    if big.any() and not big.all():
        keep = keep[big]
        labels = nearest(X, X[keep])
    return Canopies(centers=keep, labels=labels, t1=float(t1), t2=float(t2), raw=len(centers))


def nearest(X: np.ndarray, C: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Index of the nearest row of ``C`` for every row of ``X`` (chunked, O(chunk·K))."""
    out = np.empty(X.shape[0], dtype=int)
    for s in range(0, X.shape[0], chunk):
        block = X[s:s + chunk]
        out[s:s + chunk] = ((block[:, None, :] - C[None, :, :]) ** 2).sum(-1).argmin(1)
    return out
