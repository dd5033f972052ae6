"""VPP classification: Canopy, K-medoids (FasterPAM vs PAM), features, offers."""

from __future__ import annotations

import kmedoids as km
import numpy as np
import pytest
from conftest import case
from scipy.spatial.distance import cdist

import flexnet
from flexnet import vpp


def blobs(k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k Gaussian blobs (σ = 1) whose centres are ≥ 8 apart, 50–300 points each."""
    rng = np.random.default_rng(k)
    while True:
        c = rng.uniform(-20, 20, (k, 3))
        d = cdist(c, c) + 100 * np.eye(k)
        if d.min() > 8:
            break
    sizes = rng.integers(50, 300, k)
    X = np.concatenate([ci + rng.normal(0, 1, (n, 3)) for ci, n in zip(c, sizes, strict=True)])
    return X, np.repeat(np.arange(k), sizes)


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6, 7, 8, 10])
def test_canopy_finds_k_on_separated_blobs(k):
    X, _ = blobs(k)
    for seed in range(3):
        assert vpp.canopy(X, seed=seed).centers.size == k


def test_canopy_is_reproducible_and_validates_thresholds():
    X, _ = blobs(4)
    a, b = vpp.canopy(X, seed=7), vpp.canopy(X, seed=7)
    np.testing.assert_array_equal(a.centers, b.centers)
    np.testing.assert_array_equal(a.labels, b.labels)
    with pytest.raises(ValueError, match="T1 > T2"):
        vpp.canopy(X, t1=1.0, t2=2.0)


def test_kmedoids_recovers_blobs_and_beats_pam():
    X, truth = blobs(4)
    c = vpp.cluster(X)
    # each cluster is exactly one blob
    assert len({(a, b) for a, b in zip(c.labels, truth, strict=True)}) == 4
    init = vpp.canopy(X).centers
    pam = km.pam(cdist(X, X), init.copy()).loss
    assert c.loss <= pam + 1e-9
    if vpp.has_sklearn_extra():  # the optional backend, built from source by the Makefile
        other = vpp.cluster(X, backend="sklearn-extra")
        assert c.loss <= other.loss + 1e-9


def test_clara_keeps_memory_bounded_and_loss_close():
    X, _ = blobs(3)
    exact = vpp.cluster(X)
    sampled = vpp.cluster(X, max_exact=200)
    assert sampled.loss <= 1.02 * exact.loss


def test_path_sums_match_a_walk_to_the_root():
    s = case("ieee33")
    ds = s.ds
    r = vpp.path_sums(s, ds.branch_r.values)
    parent = dict(zip(ds.branch_node1.values, zip(ds.branch_node0.values, ds.branch_r.values,
                                                  strict=True), strict=True))
    node = ds.node.values[17]
    total = 0.0
    while node in parent:
        node, rb = parent[node]
        total += rb
    assert r[17] == pytest.approx(total)


def test_classify_default_case():
    s = case(flexnet.DEFAULT_CASE)
    t = vpp.classify(s)
    n = sum(s.n(k) for k in ("building", "fleet", "storage", "der"))
    assert len(t) == n
    assert set(t.vpp_class) <= {"TVPP", "DVPP"}
    assert set(vpp.FEATURES) <= set(t.columns)
    assert not t[list(vpp.FEATURES)].isna().any().any()
    # the rule: TVPP clusters are big enough and electrically close to the substation
    for _, g in t[t.vpp_class == "TVPP"].groupby("cluster"):
        assert g.p_cap.sum() >= 1.0
        assert g.dv_dp.median() <= t.dv_dp.median()
    # every VPP sits behind one PCC
    assert (t.groupby("vpp").dso.nunique() == 1).all()


def test_offers_add_up_to_member_capacity():
    s = case(flexnet.DEFAULT_CASE)
    t = vpp.classify(s)
    o = vpp.aggregate_offers(s, t)
    assert o.vpp_flex_up.dims == ("snapshot", "vpp")
    assert int(o.vpp_members.sum()) == len(t)
    bess = t[t.kind == "storage"]
    for v, g in bess.groupby("vpp"):
        assert float(o.vpp_curve_mw.sel(vpp=v).sum()) >= g.p_cap.sum() - 1e-9
    assert float(o.vpp_flex_up.min()) >= 0
    total_storage = float(s.ds.storage_p_max.sum())
    assert float(o.vpp_flex_down.sum("vpp").min()) >= total_storage - 1e-9
