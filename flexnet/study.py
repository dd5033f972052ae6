"""``flexnet study seeds``: both seed papers' comparisons on one case, in one table.

Seed 000 (Mansouri et al. 2023): smart buildings, EV fleets and the DRP under the
sequential, centralized and nested schemes; which optimal TSO price the nested plan is
priced at; the interval plan secured by repair rounds and by the one-shot LP.
Seed 003 (Cai et al. 2025): VPP classification as market access (``vpp-market``: no
coordination, classified, all TVPP, all DVPP, and the joint optimum), and DRCC in the
centralized and hierarchical markets, validated out of sample.

Each row is one run: its scheme, variant, status and the figures a market designer reads
(costs, redispatch, shedding, grid violations — under an AC power flow too, for the
classification rows, when pandapower is installed — the DSOs' bill, what the interval
plan leaves uncovered, DRCC's worst out-of-sample violation rate). docs/studies.md reads the
table claim by claim.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

import flexnet
from flexnet.errors import FlexnetError
from flexnet.grid.cases import STRESSED_CASE
from flexnet.grid.system import System

__all__ = ["inflexible", "seeds_study", "without_drp"]

log = logging.getLogger("flexnet")

#: the summary figures each row keeps (NaN where a run has none)
FIGURES = ["status", "total_cost", "energy_market_cost", "flexibility_market_cost",
           "balancing_cost", "repair_cost", "shed_energy_mwh", "congested_line_hours",
           "min_voltage_pu", "voltage_violations", "branch_overloads", "redispatch_cost",
           "redispatch_mwh", "dso_cost_priced",
           "dso_payment_min", "dso_payment_max", "uncovered_mwh", "security_premium",
           "admm_iterations"]


def without_drp(system: System) -> System:
    """The system with the demand-response program switched off (no building may be paid
    for reducing its load against the baseline)."""
    ds = system.ds.copy()
    if "building_dr_max" in ds:
        ds["building_dr_max"] = xr.zeros_like(ds.building_dr_max)
    ds.attrs["name"] = f"{system.name} (no DRP)"
    return System(ds, validate=False)


def inflexible(system: System) -> System:
    """The system without smart-building and EV flexibility: their demand is fixed load.

    Buildings consume their customer baseline (``building_p_baseline``: appliances,
    steady-state heating, flat shiftable load, minus rooftop PV). EV fleets charge without
    control: each fleet's daily energy need (energy of departing minus arriving vehicles,
    over the charging efficiency) is drawn in proportion to the connected vehicles.
    Both are added to their nodes' load (and its interval bounds).
    """
    ds = system.ds
    nodes = ds.indexes["node"]
    extra = np.zeros((ds.sizes["snapshot"], nodes.size))
    if "building" in ds.dims:
        base = ds.building_p_baseline.transpose("snapshot", "building").values
        np.add.at(extra.T, nodes.get_indexer(ds.building_node.values), base.T)
    if "fleet" in ds.dims:
        need = (ds.fleet_e_depart - ds.fleet_e_arrive).sum("snapshot").clip(min=0)
        share = ds.fleet_connected / ds.fleet_connected.sum("snapshot")
        draw = (share * need / ds.fleet_eta).transpose("snapshot", "fleet").values
        np.add.at(extra.T, nodes.get_indexer(ds.fleet_node.values), draw.T)
    out = ds.drop_dims([d for d in ("building", "fleet") if d in ds.dims])
    add = xr.DataArray(extra, coords={"snapshot": ds.snapshot, "node": nodes})
    for v in ("node_p_load", "node_p_load_lower", "node_p_load_upper"):
        if v in out:
            out[v] = out[v] + add.transpose(*out[v].dims)
    out.attrs["name"] = f"{system.name} (no SB/EV flexibility)"
    return System(out, validate=False)


def _row(study: str, variant: str, run: str, res: flexnet.Result | None, seconds: float,
         **extra: Any) -> dict[str, Any]:
    attrs = res.dataset.attrs if res is not None else {}
    row = {"study": study, "variant": variant, "run": run}
    row |= {k: attrs.get(k, np.nan) for k in FIGURES}
    return row | extra | {"seconds": round(seconds, 1)}


def seeds_study(case: str | System = STRESSED_CASE, *,
                out: str | Path | None = "study", quick: bool = False,
                progress: bool = True) -> pd.DataFrame:
    """Run both seeds' comparisons on ``case``; return the table (and write it to ``out``).

    Parameters
    ----------
    case : str or System
        Default: the stressed variant of the default case (flexnet/datasets/README.md).
    out : path, optional
        Directory for ``seeds.csv``, ``seeds.md`` and ``seeds.png`` (None: write nothing).
    quick : bool
        Two DSOs and the first 6 hours only, and 2,000 out-of-sample draws (a smoke run).
    """
    from flexnet.uncertainty import solve_drcc, solve_interval, validate_out_of_sample
    from flexnet.vpp import classify

    system = flexnet.load_case(case) if isinstance(case, str) else case
    if quick:
        system = system.select(list(system.ds.dso.values[:2]), hours=6)
    rows: list[dict[str, Any]] = []
    quiet = {"progress": False}

    def run(study: str, variant: str, name: str, fn: Callable[[], flexnet.Result],
            ac: bool = False, **extra: Any) -> flexnet.Result | None:
        t = time.perf_counter()
        if progress:
            print(f"study: {study} / {variant} / {name} ...", flush=True)
        try:
            res = fn()
        except FlexnetError as exc:  # a run that fails is a row, not the end
            log.warning("study: %s %s %s failed: %s", study, variant, name, exc)
            rows.append(_row(study, variant, name, None, time.perf_counter() - t,
                             error=str(exc).splitlines()[0]))
            return None
        if ac and importlib.util.find_spec("pandapower") is not None:
            from flexnet.checks import ac_check  # the feeders under an AC power flow

            try:
                a = ac_check(res).attrs
                extra |= {k: a[k] for k in ("ac_voltage_violations", "ac_branch_overloads")}
            except FlexnetError as exc:  # e.g. no AC convergence: noted on the row
                log.warning("study: AC check of %s %s %s failed: %s", study, variant, name, exc)
                extra |= {"error": "AC check: " + str(exc).splitlines()[0]}
        rows.append(_row(study, variant, name, res, time.perf_counter() - t, **extra))
        return res

    # seed 000: flexibility and DRP under each scheme ----------------------------------
    for variant, sys_v in (("flexible", system), ("no DRP", without_drp(system)),
                           ("no SB/EV flexibility", inflexible(system))):
        for scheme in ("sequential", "centralized", "nested"):
            opts = quiet if scheme == "nested" else {}
            run("seed 000: flexibility", variant, scheme,
                lambda s=sys_v, sc=scheme, o=opts: flexnet.solve(s, sc, **o))
    run("seed 000: bilevel pricing", "flexible", "nested, pessimistic",
        lambda: flexnet.solve(system, "nested", pricing="pessimistic", **quiet))
    for method in ("repair", "oneshot"):
        run("seed 000: interval", "flexible", f"interval, {method}",
            lambda m=method: solve_interval(system, method=m))
    # seed 003: VPP classification as market access (vpp-market), and in the joint ADMM
    table = classify(system)
    variants = {"classified (Canopy + K-medoids)": table,
                "all TVPP": table.assign(vpp_class="TVPP"),
                "all DVPP": table.assign(vpp_class="DVPP")}
    run("seed 003: classification", "no coordination", "sequential",
        lambda: flexnet.solve(system, "sequential"), ac=True)
    for name, t in variants.items():
        t.attrs = table.attrs
        run("seed 003: classification", name, "vpp-market",
            lambda t=t: flexnet.solve(system, "vpp-market", vpp=t), ac=True)
    run("seed 003: classification", "joint optimum", "centralized",
        lambda: flexnet.solve(system, "centralized"), ac=True)
    run("seed 003: classification", "classified (Canopy + K-medoids)", "hierarchical-vpp",
        lambda: flexnet.solve(system, "hierarchical", vpp=table, **quiet))
    n = 2_000 if quick else 10_000
    for scheme in ("centralized", "hierarchical"):
        opts = quiet if scheme == "hierarchical" else {}
        res = run("seed 003: DRCC", "Cantelli, eps 0.05", f"{scheme}+drcc",
                  lambda sc=scheme, o=opts: solve_drcc(system, eps=0.05, scheme=sc, **o))
        if res is not None:
            oos = validate_out_of_sample(res, n=n, seed=1)
            rows[-1]["drcc_worst_rate"] = float(oos.rate.max())
            rows[-1]["drcc_worst_ci_high"] = float(oos.ci_high.max())
    table_out = pd.DataFrame(rows)
    if out is not None:
        write_study(table_out, Path(out), system.name)
    return table_out


def markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (numbers to 6 significant digits, NaN blank)."""
    def cell(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else f"{v:,.6g}"
        return str(v)

    lines = ["| " + " | ".join(map(str, table.columns)) + " |",
             "|" + "---|" * table.shape[1]]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines)


def write_study(table: pd.DataFrame, out: Path, name: str) -> None:
    """``seeds.csv``, ``seeds.md`` (the table as Markdown) and ``seeds.png`` in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "seeds.csv", index=False)
    cols = ["study", "variant", "run", "status", "total_cost", "balancing_cost", "repair_cost",
            "redispatch_cost", "redispatch_mwh", "shed_energy_mwh", "congested_line_hours",
            "min_voltage_pu", "ac_voltage_violations", "ac_branch_overloads", "dso_cost_priced",
            "uncovered_mwh", "security_premium", "drcc_worst_ci_high", "seconds"]
    shown = table[[c for c in cols if c in table]]
    (out / "seeds.md").write_text(f"Case: `{name}`\n\n" + markdown(shown) + "\n")
    # cost above the joint optimum (centralized, every resource flexible); DRCC buys
    # security against a different risk and is left to the table
    ref = table[(table.run == "centralized") & (table.variant == "flexible")].total_cost
    shown = table[table.total_cost.notna() & ~table.study.str.contains("DRCC")]
    above = 100 * (shown.total_cost / float(ref.iloc[0]) - 1) if len(ref) else shown.total_cost
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(shown) + 1.2))
    labels = shown.study.str.replace("seed ", "") + " | " + shown.variant + " | " + shown.run
    ax.barh(labels, above)
    ax.set_xlabel("total cost above the joint optimum (%)" if len(ref) else "total cost ($)")
    ax.invert_yaxis()
    ax.set_title(f"flexnet study seeds on {name}\n(DRCC rows: see the table)")
    fig.tight_layout()
    fig.savefig(out / "seeds.png", dpi=110)
    plt.close(fig)
