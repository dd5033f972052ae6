"""Distributionally robust chance constraints (DRCC) as linear margins, and their
out-of-sample validation (Cai et al. 2025, reconstructed; see docs/drcc.md).

**Uncertainty.** One aggregated forecast error ω per area (``ts`` and each DSO) and hour,
from the case's ``forecast_error`` samples (actual − forecast net load, MW); the TS sees
the total Ω = Σ_areas ω. Responses are affine with fixed participation factors:

- generators share Ω by their operating range, α_g = (P̄_g − P̲_g) / Σ (P̄ − P̲), so
  must-run units at P̲ = P̄ do not participate;
- inside a DSO, ω_d is spread over the nodes by their share of the DSO's load, so branch b
  carries γ_b ω_d more (γ_b = downstream load share) and node j's squared voltage moves by
  −s_j ω_d with s_j = Σ_{b ∈ path(j)} 2 r_b γ_b / V_nom² (LinDistFlow).

**Margins.** A chance constraint P(g(x) + β ω ≤ 0) ≥ 1 − ε becomes g(x) + β κ ≤ 0 with a
precomputed κ per hour and area, so the model stays an LP:

- ``gaussian`` (non-robust reference): κ = μ + σ Φ⁻¹(1 − ε);
- ``cantelli`` (moment-based DR over all laws with mean μ and std σ): κ = μ + σ √((1−ε)/ε);
- ``wasserstein`` (worst-case CVaR over a Wasserstein ball of radius θ around the
  samples): κ = CVaR_ε(ω) + θ/ε, default θ = σ/√N.

The lower side uses the same formulas on −ω. By default each side of a two-sided limit is
its own chance constraint at ε (validated per side: ``gen_upper``, ``gen_lower``, ...).
``two_sided=True`` makes each two-sided limit (voltages, generators, PCC) one chance
constraint at ε, split by Bonferroni into ε/2 per side (validated as ``gen``, ...). On
the default case the Bonferroni Cantelli margins are infeasible: generators cannot keep
6.2 σ ≈ 540 MW above their minimum output at night.

**Families** (each a set of chance constraints): ``reserve_up``/``reserve_down``
(Σ R↑ − FR↑ ≥ Ω, Σ R↓ − FR↓ ≥ −Ω), ``gen`` (P̲ ≤ p_g + α_g Ω ≤ P̄), ``voltage``,
``branch`` (the polygon facets with γ_b ω_d added to the flow) and ``pcc`` (the DSO's
flexibility offer through the transformer, with ω_d added to the PCC draw).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from flexnet.blocks.distribution import polygon
from flexnet.errors import DataError

if TYPE_CHECKING:
    import linopy

    from flexnet.grid.system import System
    from flexnet.results import Result

__all__ = ["CHECKED", "FAMILIES", "METHODS", "margins", "sensitivities", "solve_drcc",
           "validate_out_of_sample"]

METHODS = ("gaussian", "cantelli", "wasserstein")
FAMILIES = ("reserve_up", "reserve_down", "gen", "voltage", "branch", "pcc")
#: the families as validated one-sided (two-sided limits are split into both sides)
CHECKED = ("reserve_up", "reserve_down", "gen_upper", "gen_lower", "voltage_lower",
           "voltage_upper", "branch", "pcc_upper", "pcc_lower")


def margins(samples: xr.DataArray, eps: float, method: str = "cantelli",
            theta: float | xr.DataArray | None = None) -> xr.DataArray:
    """Upper margin κ over ``sample`` for each remaining coordinate (MW).

    Parameters
    ----------
    samples : DataArray with a ``sample`` dim
    eps : float
        Violation probability, 0 < ε < 1.
    method : {"gaussian", "cantelli", "wasserstein"}
    theta : float or DataArray, optional
        Wasserstein radius (MW); default σ/√N.
    """
    if not 0 < eps < 1:
        raise ValueError(f"drcc: eps must be in (0, 1), got {eps}")
    mu = samples.mean("sample")
    sd = samples.std("sample")
    if method == "gaussian":
        return mu + sd * float(stats.norm.ppf(1 - eps))
    if method == "cantelli":
        return mu + sd * float(np.sqrt((1 - eps) / eps))
    if method == "wasserstein":
        n = samples.sizes["sample"]
        var = samples.quantile(1 - eps, "sample").drop_vars("quantile")
        tail = samples.where(samples >= var)
        cvar = tail.mean("sample")
        th = sd / np.sqrt(n) if theta is None else theta
        return cvar + th / eps
    raise ValueError(f"drcc: unknown method {method!r}; use one of {', '.join(METHODS)}")


def sensitivities(system: System) -> xr.Dataset:
    """Participation and sensitivity factors (see the module docstring)."""
    from flexnet.grid.topology import downstream_sum
    from flexnet.vpp.classify import path_sums

    ds = system.ds
    out = xr.Dataset()
    if system.n("gen"):
        span = (ds.gen_p_max - ds.gen_p_min).clip(min=0)
        out["alpha"] = span / span.sum()
    if system.has_ds:
        nodes = ds.indexes["node"]
        load = ds.node_p_load.mean("snapshot").values
        tot = pd.Series(load).groupby(ds.node_dso.values).sum()
        share = load / tot.reindex(ds.node_dso.values).to_numpy()
        parent = nodes.get_indexer(ds.branch_node0.values)
        child = nodes.get_indexer(ds.branch_node1.values)
        down = downstream_sum(parent, child, share)
        gamma = down[child]
        v_nom = ds.dso_v_nom.sel(dso=ds.branch_dso.values).values
        out["gamma"] = xr.DataArray(gamma, coords=[ds.indexes["branch"]])
        s = path_sums(system, 2 * ds.branch_r.values * gamma / v_nom**2)
        out["s_v"] = xr.DataArray(s, coords=[nodes])
    return out


def _area_samples(system: System) -> xr.DataArray:
    ds = system.ds
    if "forecast_error" not in ds:
        raise DataError(f"system {system.name!r}: field 'forecast_error' is missing; DRCC "
                        "needs forecast-error samples per area (see docs/schema.md)")
    need = (["ts"] if system.has_ts else []) + list(ds.dso.values if system.has_ds else [])
    missing = [a for a in need if a not in ds.area.values]
    if missing:
        raise DataError(f"area {missing[0]!r}: field 'forecast_error' has no samples for this "
                        "area; DRCC needs one per DSO (and 'ts')")
    return ds.forecast_error


def _kappas(system: System, eps: float, method: str, theta: float | None,
            two_sided: bool) -> xr.Dataset:
    w = _area_samples(system)
    total = w.sum("area")
    e2 = eps / 2 if two_sided else eps
    k = xr.Dataset({
        "total_up": margins(total, eps, method, theta),
        "total_down": margins(-total, eps, method, theta),
        "total_up2": margins(total, e2, method, theta),
        "total_down2": margins(-total, e2, method, theta),
        "area_up": margins(w, eps, method, theta),
        "area_down": margins(-w, eps, method, theta),
        "area_up2": margins(w, e2, method, theta),
        "area_down2": margins(-w, e2, method, theta),
    })
    # a margin below zero would loosen a limit; DR only ever tightens
    return k.clip(min=0.0)


def _by_owner(kappa: xr.DataArray, ds: xr.Dataset, dim: str) -> xr.DataArray:
    """A per-area margin (snapshot, area) laid out over ``dim`` (dso, node or branch)."""
    owner = ds.dso.values if dim == "dso" else ds[f"{dim}_dso"].values
    return kappa.sel(area=owner).rename(area=dim).assign_coords({dim: ds[dim].values})


def drcc_hook(system: System, eps: float = 0.05, method: str = "cantelli",
              theta: float | None = None, two_sided: bool = False,
              families: tuple[str, ...] = FAMILIES, kappas: xr.Dataset | None = None):
    """A model hook adding the tightened rows ``Drcc-*`` of ``families``; returns
    (hook, margins).

    The hook adds the TS families to a model that holds the TS (``Gen-p``) and the DS
    families to one that holds feeders (``Node-v``), so it also fits a decomposed
    scheme's agents. ``kappas``: the margins of the whole system (an agent's sub-system
    does not see every area's error, on which the TS margins depend).
    """
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise ValueError(f"drcc: unknown family {unknown[0]!r}; use {', '.join(FAMILIES)}")
    on = set(families)
    k = _kappas(system, eps, method, theta, two_sided) if kappas is None else kappas
    sens = sensitivities(system)
    ds = system.ds

    def hook(m: linopy.Model) -> None:
        v = m.variables
        if system.has_ts and "Gen-p" in v:
            for d, key in (("up", "total_up"), ("down", "total_down")):
                if f"reserve_{d}" not in on:
                    continue
                # TVPPs (hierarchical-vpp) offer reserve to the TSO besides the DSOs
                terms = [v[n].sum(dim) for n, dim in ((f"Gen-r-{d}", "gen"),
                                                     (f"Pcc-r-{d}", "dso"),
                                                     (f"Tvpp-r-{d}", "dso")) if n in v]
                fr = ds.fr_up if d == "up" else ds.fr_down
                m.add_constraints(sum(terms[1:], terms[0]) >= fr + k[key],
                                  name=f"Drcc-reserve-{d}")
        if system.has_ts and "gen" in on and "Gen-p" in v:
            a = sens.alpha
            m.add_constraints(v["Gen-p"] <= ds.gen_p_max - a * k.total_up2, name="Drcc-gen-upper")
            m.add_constraints(v["Gen-p"] >= ds.gen_p_min + a * k.total_down2, name="Drcc-gen-lower")
        if system.has_ds and "Node-v" in v:
            kd_up, kd_dn = _by_owner(k.area_up2, ds, "dso"), _by_owner(k.area_down2, ds, "dso")
            node_up = _by_owner(k.area_up2, ds, "node")
            node_dn = _by_owner(k.area_down2, ds, "node")
            is_root = xr.DataArray(np.isin(ds.node.values, ds.dso_root.values),
                                   coords=[ds.indexes["node"]])
            vmin = (ds.dso_v_min.sel(dso=ds.node_dso.values).values ** 2)
            vmax = (ds.dso_v_max.sel(dso=ds.node_dso.values).values ** 2)
            vmin = xr.DataArray(vmin, coords=[ds.indexes["node"]])
            vmax = xr.DataArray(vmax, coords=[ds.indexes["node"]])
            if "voltage" in on:
                m.add_constraints(v["Node-v"] >= vmin + sens.s_v * node_up,
                                  name="Drcc-v-lower", mask=~is_root)
                m.add_constraints(v["Node-v"] <= vmax - sens.s_v * node_dn,
                                  name="Drcc-v-upper", mask=~is_root)
            cos, sin, shrink = polygon()
            br_up = _by_owner(k.area_up, ds, "branch")
            br_dn = _by_owner(k.area_down, ds, "branch")
            extra = sens.gamma * xr.where(cos > 0, cos * br_up, -cos * br_dn)
            if "branch" in on:
                m.add_constraints(cos * v["Branch-p"] + sin * v["Branch-q"]
                                  <= shrink * ds.branch_s_max - extra, name="Drcc-branch")
            if "Pcc-r-up" in v and "pcc" in on:
                p = v["Pcc-p"]
                m.add_constraints(p + v["Pcc-r-down"] <= ds.dso_s_max - kd_up, name="Drcc-pcc-upper")
                m.add_constraints(p - v["Pcc-r-up"] >= -ds.dso_s_max + kd_dn, name="Drcc-pcc-lower")

    return hook, k


def solve_drcc(system: System, *, eps: float = 0.05, method: str = "cantelli",
               theta: float | None = None, two_sided: bool = False,
               families: tuple[str, ...] = FAMILIES, scheme: str = "centralized",
               **options: Any) -> Result:
    """A scheme with DRCC margins on reserves, generators, voltages, branches, PCC.

    Parameters
    ----------
    scheme : {"centralized", "hierarchical", "hierarchical-vpp"}
        ``centralized``: one LP. ``hierarchical``: ADMM between the TSO and the DSOs,
        each agent adding the DRCC rows of its own part (margins from the whole system's
        samples), so it converges to the DRCC centralized optimum. ``options`` go to the
        scheme.

    The result carries the margins (``drcc_*``, MW) and ``eps``/``method`` attrs, which
    :func:`validate_out_of_sample` reads.
    """
    from flexnet.coordination.centralized import solve_centralized
    from flexnet.coordination.hierarchical import solve_hierarchical

    if scheme not in ("centralized", "hierarchical", "hierarchical-vpp"):
        raise ValueError(f"drcc: scheme must be 'centralized', 'hierarchical' or "
                         f"'hierarchical-vpp', not {scheme!r}")
    hook, k = drcc_hook(system, eps, method, theta, two_sided, families)
    if scheme == "centralized":
        res = solve_centralized(system, hook=hook, **options)
    else:
        spec = {"eps": eps, "method": method, "theta": theta, "two_sided": two_sided,
                "families": tuple(families), "kappas": k}
        res = solve_hierarchical(system, drcc=spec, vpp=scheme == "hierarchical-vpp",
                                 **options)
    d = res.dataset
    for name in ("total_up", "total_down"):
        d[f"drcc_{name}"] = k[name].assign_attrs(units="MW", long_name=f"DRCC margin {name}")
    d.attrs.update(drcc_eps=eps, drcc_method=method, drcc_two_sided=int(two_sided),
                   scheme=f"{scheme}+drcc")
    return res


# --------------------------------------------------------------------- validation
def _matched(system: System, dist: str, n: int, rng: np.random.Generator) -> xr.DataArray:
    """n samples per (snapshot, area) from ``dist`` with the case samples' mean and std."""
    w = _area_samples(system)
    mu, sd = w.mean("sample").values, w.std("sample").values
    shape = (n, *mu.shape)
    if dist == "gaussian":
        z = rng.standard_normal(shape)
    elif dist == "skewed":  # standardised Gamma(2): skewness √2
        z = (rng.gamma(2.0, 1.0, shape) - 2.0) / np.sqrt(2.0)
    elif dist == "student-t":  # ν = 3, scaled to unit variance: heavy tails
        z = rng.standard_t(3, shape) / np.sqrt(3.0)
    else:
        raise ValueError(f"unknown test distribution {dist!r}; use gaussian, skewed, "
                         "student-t, or pass samples")
    return xr.DataArray(mu + sd * z, dims=("sample", *w.dims[1:]),
                        coords={k: w[k] for k in w.dims[1:]})


def _tail(samples: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """P(ω > thr) per column: samples (N, ...) against thresholds (...)."""
    return (samples > thr[None] + 1e-9).mean(axis=0)


def _family_rates(result: Result, system: System, w: xr.DataArray,
                  two_sided: bool) -> dict[str, np.ndarray]:
    """Violation rate of every chance constraint, grouped by family (flattened arrays)."""
    r = result.dataset
    ds = system.ds
    sens = sensitivities(system)
    total = w.sum("area").values  # (N, T)
    out: dict[str, np.ndarray] = {}
    if system.has_ts and "gen_p" in r:
        up = r.gen_r_up.sum("gen") + (r.pcc_flex_up.sum("dso") if "pcc_flex_up" in r else 0)
        dn = r.gen_r_down.sum("gen") + (r.pcc_flex_down.sum("dso") if "pcc_flex_down" in r else 0)
        out["reserve_up"] = _tail(total, (up - ds.fr_up).values)
        out["reserve_down"] = _tail(-total, (dn - ds.fr_down).values)
        a = sens.alpha.values[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):  # α = 0: units that never move
            hi = np.where(a > 0, (ds.gen_p_max - r.gen_p).transpose("snapshot", "gen").values / a,
                          np.inf)
            lo = np.where(a > 0, (r.gen_p - ds.gen_p_min).transpose("snapshot", "gen").values / a,
                          np.inf)
        out["gen_upper"] = _tail(total[:, :, None], hi).ravel()
        out["gen_lower"] = _tail(-total[:, :, None], lo).ravel()
    if system.has_ds and "node_v" in r:
        wd = w.sel(area=ds.dso.values).values  # (N, T, dso)
        dso_pos = pd.Index(ds.dso.values).get_indexer(ds.node_dso.values)
        wn = wd[:, :, dso_pos]
        v2 = (r.node_v**2).transpose("snapshot", "node").values
        vmin = ds.dso_v_min.sel(dso=ds.node_dso.values).values ** 2
        vmax = ds.dso_v_max.sel(dso=ds.node_dso.values).values ** 2
        s = np.maximum(sens.s_v.values, 1e-12)
        not_root = ~np.isin(ds.node.values, ds.dso_root.values)
        out["voltage_lower"] = _tail(wn, (v2 - vmin) / s)[:, not_root].ravel()
        out["voltage_upper"] = _tail(-wn, (vmax - v2) / s)[:, not_root].ravel()
        cos, sin, shrink = polygon()
        bp = r.branch_p.transpose("snapshot", "branch").values
        bq = r.branch_q.transpose("snapshot", "branch").values
        g = np.maximum(sens.gamma.values, 1e-12)
        bpos = pd.Index(ds.dso.values).get_indexer(ds.branch_dso.values)
        wb = wd[:, :, bpos]
        worst = np.zeros(bp.shape)
        for c, sn in zip(cos.values, sin.values, strict=True):  # 8 facets, arrays inside
            slack = shrink * ds.branch_s_max.values - (c * bp + sn * bq)
            if abs(c) < 1e-12:
                continue
            rate_f = _tail(wb if c > 0 else -wb, slack / (abs(c) * g))
            worst = np.maximum(worst, rate_f)
        out["branch"] = worst.ravel()
        if "pcc_flex_up" in r:
            p = r.pcc_p.transpose("snapshot", "dso").values
            s_max = ds.dso_s_max.values
            hi = s_max - p - r.pcc_flex_down.transpose("snapshot", "dso").values
            lo = p - r.pcc_flex_up.transpose("snapshot", "dso").values + s_max
            out["pcc_upper"] = _tail(wd, hi).ravel()
            out["pcc_lower"] = _tail(-wd, lo).ravel()
    if two_sided:  # Bonferroni: each two-sided limit is one chance constraint
        for fam in ("gen", "voltage", "pcc"):
            if f"{fam}_upper" in out:
                out[fam] = out.pop(f"{fam}_upper") + out.pop(f"{fam}_lower")
    return out


def validate_out_of_sample(result: Result, samples: xr.DataArray | None = None, *,
                           n: int = 10_000, distributions: tuple[str, ...] = (
                               "gaussian", "skewed", "student-t"),
                           system: System | None = None, seed: int = 0,
                           confidence: float = 0.95) -> pd.DataFrame:
    """Monte-Carlo violation frequency per constraint family, with binomial intervals.

    For every chance constraint the plan is fixed and the error is drawn ``n`` times; a
    family's rate is that of its worst constraint (the one closest to its limit), with a
    Clopper–Pearson interval. Every constraint is linear in one scalar error, so the rate
    is an exact empirical tail frequency, computed in bulk.

    Parameters
    ----------
    samples : DataArray (sample, snapshot, area), optional
        User test samples; otherwise ``distributions`` matched to the case's mean and std
        per hour and area: Gaussian, skewed (standardised Gamma(2)), Student-t (ν = 3).

    Returns
    -------
    DataFrame
        One row per (distribution, family): ``rate``, ``ci_low``, ``ci_high``, ``eps``,
        ``n``, ``constraints``.
    """
    system = system or result.system
    if system is None:
        raise DataError("validate_out_of_sample: pass system= (the result has none attached)")
    eps = float(result.dataset.attrs.get("drcc_eps", np.nan))
    rng = np.random.default_rng(seed)
    sets = {"user": samples} if samples is not None else {
        d: _matched(system, d, n, rng) for d in distributions}
    rows = []
    alpha = 1 - confidence
    for name, w in sets.items():
        N = w.sizes["sample"]
        two = bool(result.dataset.attrs.get("drcc_two_sided", 0))
        for fam, rates in _family_rates(result, system, w, two).items():
            worst = float(rates.max()) if rates.size else 0.0
            k = round(worst * N)
            lo = float(stats.beta.ppf(alpha / 2, k, N - k + 1)) if k > 0 else 0.0
            hi = float(stats.beta.ppf(1 - alpha / 2, k + 1, N - k)) if k < N else 1.0
            rows.append({"distribution": name, "family": fam, "rate": worst, "ci_low": lo,
                         "ci_high": hi, "eps": eps, "n": N, "constraints": rates.size})
    return pd.DataFrame(rows)
