"""Labeled results: extraction from solved models by name, metrics, summary, netCDF."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from flexnet._version import __version__
from flexnet.blocks.drp import drp_reward
from flexnet.errors import DataError
from flexnet.grid.system import atomic_to_netcdf, open_flexnet_dataset

if TYPE_CHECKING:
    import linopy

    from flexnet.grid.system import System

__all__ = ["RESULT_SCHEMA", "Result", "extract", "read_result"]

_NC_KIND = "flexnet-result"

#: model variable → (result name, units, meaning); extraction is by these names only
VARIABLES: dict[str, tuple[str, str, str]] = {
    "Gen-p": ("gen_p", "MW", "generator output"),
    "Gen-r-up": ("gen_r_up", "MW", "generator up reserve"),
    "Gen-r-down": ("gen_r_down", "MW", "generator down reserve"),
    "Wind-p": ("wind_p", "MW", "wind output after curtailment"),
    "Load-shed": ("load_shed", "MW", "TS load shed at VOLL"),
    "Line-flow": ("line_flow", "MW", "DC line flow, from → to"),
    "Pcc-p": ("pcc_p", "MW", "DSO import at the PCC (positive = from the TS)"),
    "Pcc-q": ("pcc_q", "Mvar", "DSO reactive import at the PCC"),
    "Pcc-r-up": ("pcc_flex_up", "MW", "up flexibility offered by the DSO at the PCC"),
    "Pcc-r-down": ("pcc_flex_down", "MW", "down flexibility offered by the DSO at the PCC"),
    "Branch-p": ("branch_p", "MW", "branch active flow, parent → child"),
    "Branch-q": ("branch_q", "Mvar", "branch reactive flow, parent → child"),
    "Node-shed": ("node_shed", "MW", "DS load shed at VOLL"),
    "Building-temperature": ("building_temperature", "°C", "indoor temperature"),
    "Building-p": ("building_p", "MW", "building net load"),
    "Building-p-hvac": ("building_p_hvac", "MW", "heat-pump electric power"),
    "Building-dr": ("building_dr", "MW", "DR reduction below the baseline"),
    "Fleet-energy": ("fleet_energy", "MWh", "energy stored in connected EVs"),
    "Fleet-p-charge": ("fleet_p_charge", "MW", "fleet charging power"),
    "Fleet-p-discharge": ("fleet_p_discharge", "MW", "fleet V2G discharging power"),
    "Storage-p-charge": ("storage_p_charge", "MW", "BESS charging power"),
    "Storage-p-discharge": ("storage_p_discharge", "MW", "BESS discharging power"),
    "Storage-soc": ("storage_soc", "MWh", "BESS state of charge"),
    "Der-p": ("der_p", "MW", "DER output after curtailment"),
}

#: constraint → (result name, units, meaning) for duals
DUALS: dict[str, tuple[str, str, str]] = {
    "Bus-balance": ("bus_lmp", "$/MWh", "locational marginal price"),
    "Node-balance-p": ("node_dlmp", "$/MWh", "distribution LMP (active power)"),
    "Reserve-up-requirement": ("flex_price_up", "$/MW/h", "up-flexibility price"),
    "Reserve-down-requirement": ("flex_price_down", "$/MW/h", "down-flexibility price"),
}

#: derived results: name → (units, meaning)
DERIVED: dict[str, tuple[str, str]] = {
    "line_loading": ("1", "|flow| / rating"),
    "node_v": ("p.u.", "voltage magnitude"),
    "branch_loading": ("1", "apparent flow / rating"),
    "fleet_p": ("MW", "fleet net charging (charge − discharge)"),
    "storage_p": ("MW", "BESS net charging (charge − discharge)"),
    "drp_reward": ("$/MWh", "DRP reward ρ_t"),
    "pcc_schedule": ("MW", "sequential scheme: PCC schedule the DSO gave the TSO"),
    "pcc_price": ("$/MWh", "hierarchical: PCC energy price the DSO pays (ADMM multiplier)"),
    "pcc_lmp_low": ("$/MWh", "nested: lowest LMP at the PCC bus over the TSO's optimal duals"),
    "pcc_lmp_high": ("$/MWh", "nested: highest LMP at the PCC bus over the TSO's optimal duals"),
    "pcc_flex_price_up": ("$/MW/h", "hierarchical: price paid for DSO up flexibility at the PCC"),
    "pcc_flex_price_down": ("$/MW/h", "hierarchical: price paid for DSO down flexibility at the PCC"),
    "tvpp_flex_up": ("MW", "hierarchical + VPP: TVPP up flexibility sold to the TSO per DSO"),
    "tvpp_flex_down": ("MW", "hierarchical + VPP: TVPP down flexibility sold to the TSO per DSO"),
    "tvpp_flex_price_up": ("$/MW/h", "hierarchical + VPP: price of TVPP up flexibility"),
    "tvpp_flex_price_down": ("$/MW/h", "hierarchical + VPP: price of TVPP down flexibility"),
    "uncovered_worst": ("MW", "interval: largest uncovered DS deviation over the scenarios"),
    "ts_uncovered_worst": ("MW", "interval: largest TS shedding or spill over the scenarios"),
    "ac_v": ("p.u.", "AC check: voltage magnitude from pandapower's AC power flow"),
    "ac_v_error": ("p.u.", "AC check: |LinDistFlow voltage − AC voltage|"),
    "ac_branch_loading": ("1", "AC check: apparent flow at the sending end / rating"),
    "ac_losses": ("MW", "AC check: active losses per DSO"),
    "drcc_total_up": ("MW", "DRCC: margin κ on the total error Ω (upper side)"),
    "drcc_total_down": ("MW", "DRCC: margin κ on −Ω (lower side)"),
    "admm_primal_residual": ("MW", "hierarchical: ‖x_i − z‖ over TSO and DSO exchange copies"),
    "admm_dual_residual": ("$/MWh", "hierarchical: ρ·√2·‖z − z_prev‖"),
    "admm_rho": ("$/MW²h", "hierarchical: ADMM penalty"),
    "admm_cost": ("$", "hierarchical: Σ subproblem costs at the iterate"),
    "admm_iteration_s": ("s", "hierarchical: wall time of the iteration"),
    "admm_largest_solve_s": ("s", "hierarchical: slowest subproblem solve in the iteration"),
    "admm_busiest_worker_s": ("s", "hierarchical: largest sum of solve seconds over one "
                              "worker's subproblems in the iteration (serial: over all)"),
    "admm_solve_sum_s": ("s", "hierarchical: Σ subproblem solve times in the iteration"),
    "admm_pcc_price": ("$/MWh", "hierarchical: daily mean PCC energy price per iteration"),
}

RESULT_SCHEMA: dict[str, tuple[str, str]] = {
    **{v[0]: (v[1], v[2]) for v in VARIABLES.values()},
    **{v[0]: (v[1], v[2]) for v in DUALS.values()},
    **DERIVED,
}


def results_markdown() -> str:
    """Render the results schema as Markdown (``docs/results.md``)."""
    lines = ["# Results schema", "",
             "Generated from `flexnet/results.py` by `make docs`. Every "
             "variable carries `units` and `long_name`; dims are `snapshot` and the element "
             "dim of the name's prefix (`bus_lmp` is (snapshot, bus)).", "",
             "| result | units | meaning | model name |", "|---|---|---|---|"]
    origin = {v[0]: f"variable `{k}`" for k, v in VARIABLES.items()}
    origin.update({v[0]: f"dual of `{k}`" for k, v in DUALS.items()})
    for name, (units, meaning) in RESULT_SCHEMA.items():
        lines.append(f"| `{name}` | {units} | {meaning} | {origin.get(name, 'derived')} |")
    lines += ["", "Global attributes: `scheme`, `solver`, `status`, `gap` (relative; NaN where "
              "the scheme knows none), `status_ok` (1 only for `optimal`), `shed_elements`, "
              "`objective`, `case`, `flexnet_version`, `created`, `Conventions`, and the "
              f"summary figures ({', '.join(f'`{k}`' for k in _SUMMARY_KEYS)}).",
              "", "In the file (`Result.to_netcdf`): units are UDUNITS strings (a money unit "
              "keeps its physical part and carries `currency = \"$\"`; flexnet's spelling is in "
              "`flexnet_units`), the dim `load` is written `ts_load`, and the input system is "
              "the group `system`.",
              "", "Sign conventions: `pcc_p` > 0 is import from the TS; `fleet_p`, "
              "`storage_p` > 0 is charging; `branch_p` flows parent → child; prices are "
              "duals ∂cost/∂demand. In a PTDF model `bus_lmp` is recovered as "
              "λ + Σ_l PTDF_lb (μ↑_l + μ↓_l)."]
    return "\n".join(lines) + "\n"


def _solution(m: linopy.Model, name: str) -> xr.DataArray:
    return m.variables[name].solution


def extract(m: linopy.Model, system: System, *,
            pcc_fixed: xr.DataArray | None = None) -> xr.Dataset:
    """Pull every known variable and dual out of a solved model by its name.

    PTDF models have no ``Line-flow`` variable and no per-bus balance: their flows are
    recomputed from the solved injections and their LMPs from the system-balance and
    line duals (:func:`flexnet.blocks.network_ts.ptdf_lmp`).

    Parameters
    ----------
    pcc_fixed : DataArray, optional
        PCC draws that were parameters of the TS model (sequential scheme).
    """
    from flexnet.blocks.network_ts import line_flows_ptdf, net_injection, ptdf_lmp

    ds = system.ds
    out = xr.Dataset(coords={"snapshot": ds.snapshot.values})
    for name, (res, _, _) in VARIABLES.items():
        if name in m.variables:
            out[res] = _solution(m, name)
    for name, (res, _, _) in DUALS.items():
        if name in m.constraints:
            try:
                out[res] = m.constraints[name].dual
            except AttributeError:  # MILPs carry no duals
                continue
    if "System-balance" in m.constraints:  # PTDF formulation
        # a MILP (nested) has no duals: the caller supplies prices from its dual variables
        with contextlib.suppress(AttributeError):
            out["bus_lmp"] = ptdf_lmp(m, system)
        inj = net_injection(m, system, pcc=pcc_fixed)
        out["line_flow"] = line_flows_ptdf(system, inj)
    for a, b, res in (("Fleet-p-charge", "Fleet-p-discharge", "fleet_p"),
                      ("Storage-p-charge", "Storage-p-discharge", "storage_p")):
        if a in m.variables:
            out[res] = _solution(m, a) - _solution(m, b)
    return asset_reserves(m, out)


def complete(out: xr.Dataset, system: System) -> xr.Dataset:
    """Add derived results (loadings, voltages, DRP reward) and units."""
    ds = system.ds
    if "line_flow" in out:
        out["line_loading"] = np.abs(out["line_flow"]) / ds.line_s_max
    if "_node_v2" in out:
        out["node_v"] = np.sqrt(out["_node_v2"].clip(min=0))
        out = out.drop_vars("_node_v2")
    if "branch_p" in out:
        out["branch_loading"] = np.hypot(out["branch_p"], out["branch_q"]) / ds.branch_s_max
    if system.n("building"):
        out["drp_reward"] = drp_reward(system)
    for name, (units, meaning) in RESULT_SCHEMA.items():
        if name in out:
            out[name].attrs.update(units=units, long_name=meaning)
    return out


def _tot(x: xr.DataArray | None) -> float:
    return 0.0 if x is None else float(x.sum())


def cost_breakdown(res: xr.Dataset, system: System) -> dict[str, float]:
    """Daily costs recomputed from the solution and the data (independent of the model).

    ``energy``: generation, DER, BESS degradation and (feeder-only) PCC purchases;
    ``flexibility``: reserve capacity of generators and DS assets; ``dr``: DRP rewards;
    ``shed``: VOLL × shed energy; ``balancing``: PCC deviations (sequential, vpp-market);
    ``redispatch``: the DSOs' payments for moving TVPP members (vpp-market).
    """
    ds = system.ds
    g = res.get
    energy = _tot(ds.gen_cost * g("gen_p")) if "gen_p" in res else 0.0
    energy += _tot(ds.der_cost * g("der_p")) if "der_p" in res else 0.0
    if "_storage_discharge" in res:
        energy += _tot(ds.storage_cost * res["_storage_discharge"])
    if not system.has_ts and "pcc_p" in res:
        energy += _tot(ds.pcc_price * res["pcc_p"])
    flex = 0.0
    if "gen_r_up" in res:
        flex += _tot(ds.gen_cost_r_up * res.gen_r_up + ds.gen_cost_r_down * res.gen_r_down)
    for key, cost in (("_asset_r_building", ds.get("building_cost_flex")),
                      ("_asset_r_fleet", ds.get("fleet_cost_flex")),
                      ("_asset_r_storage", ds.get("storage_cost_flex")),
                      ("_asset_r_der", ds.get("der_cost_flex"))):
        if key in res:
            flex += _tot(cost * res[key])
    dr = _tot(res["drp_reward"] * res["building_dr"]) if "building_dr" in res else 0.0
    voll = float(ds.attrs["voll"])
    shed = voll * (_tot(g("load_shed")) + _tot(g("node_shed")))
    balancing = float(res.attrs.get("balancing_cost", 0.0))
    redispatch = float(res.attrs.get("redispatch_cost", 0.0))  # vpp-market's TVPP payments
    return {"energy": energy, "flexibility": flex, "dr": dr, "shed": shed,
            "balancing": balancing, "redispatch": redispatch,
            "total": energy + flex + dr + shed + balancing + redispatch}


def metrics(res: xr.Dataset, system: System) -> dict[str, float]:
    """Summary figures of a result (the rows of :meth:`Result.summary`)."""
    ds = system.ds
    c = cost_breakdown(res, system)
    out = {
        "total_cost": c["total"],
        "energy_market_cost": c["energy"],
        "flexibility_market_cost": c["flexibility"],
        "dr_reward_payments": c["dr"],
        "balancing_cost": c["balancing"],
        "shed_energy_mwh": _tot(res.get("load_shed")) + _tot(res.get("node_shed")),
        "congested_line_hours": float((res["line_loading"] >= 0.99).sum())
        if "line_loading" in res else 0.0,
    }
    if "node_v" in res:
        v = res["node_v"]
        vmin = ds.dso_v_min.sel(dso=ds.node_dso.values).values
        vmax = ds.dso_v_max.sel(dso=ds.node_dso.values).values
        out["min_voltage_pu"] = float(v.min())
        out["max_voltage_pu"] = float(v.max())
        out["voltage_violations"] = float(((v < vmin - 1e-4) | (v > vmax + 1e-4)).sum())
    if "branch_loading" in res:
        out["branch_overloads"] = float((res["branch_loading"] > 1 + 1e-4).sum())
    return out


@dataclass
class Result:
    """The outcome of :func:`flexnet.solve`: a labeled dataset plus the system it used."""

    dataset: xr.Dataset
    system: System | None = field(default=None, repr=False)

    @property
    def scheme(self) -> str:
        """Coordination scheme that produced the result."""
        return str(self.dataset.attrs.get("scheme", ""))

    def summary(self) -> pd.DataFrame:
        """Status and gap first, then total, energy, flexibility, DR, shed, congestion and
        voltage figures (one column; the status is text, the rest numbers)."""
        attrs = self.dataset.attrs
        keys = [k for k in _SUMMARY_KEYS if k in attrs]
        head = [k for k in ("status", "gap") if k in attrs]
        values = [str(attrs["status"])] if "status" in attrs else []
        values += [float(attrs[k]) for k in head[len(values):] + keys]
        return pd.DataFrame({self.scheme or "result": values},
                            index=pd.Index(head + keys, name="metric"), dtype=object)

    def __getitem__(self, name: str) -> xr.DataArray:
        return self.dataset[name]

    def to_netcdf(self, path: str | os.PathLike) -> Path:
        """Write the results atomically to a CF-1.8 netCDF file that stands on its own:
        the input system is in the group ``system``, so :func:`read_result` gives it back
        and :func:`flexnet.checks.residuals` runs on the file alone."""
        ds = self.dataset.copy()
        ds.attrs["flexnet_kind"] = _NC_KIND
        groups = {"system": self.system.ds} if self.system is not None else None
        return atomic_to_netcdf(ds, path, groups=groups)


_SUMMARY_KEYS = ["total_cost", "energy_market_cost", "flexibility_market_cost",
                 "dr_reward_payments", "balancing_cost", "repair_cost", "shed_energy_mwh",
                 # interval: what the extremes leave uncovered (the plan itself may shed 0)
                 "uncovered_mwh", "congested_line_hours", "min_voltage_pu", "max_voltage_pu",
                 "voltage_violations", "branch_overloads", "dso_payment", "dso_payment_min",
                 "dso_payment_max", "dso_cost_priced", "objective"]


def finalize(res: xr.Dataset, system: System, *, scheme: str, status: str,
             objective: float, extra: dict | None = None) -> Result:
    """Complete a raw extraction: derived results, units, metrics and global attrs."""
    res = complete(res, system)
    figures = metrics(res, system)
    res = res.drop_vars([v for v in res.data_vars if str(v).startswith("_")])
    res.attrs = {k: v for k, v in res.attrs.items() if not k.startswith("_")}
    res.attrs.update(figures)
    res.attrs.update(extra or {})
    res.attrs.update(
        scheme=scheme, solver="highs", status=status, objective=float(objective),
        case=system.name, flexnet_version=__version__,
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        Conventions="CF-1.8",
        title=f"flexnet {scheme} results for {system.name}",
    )
    if np.issubdtype(res.snapshot.dtype, np.datetime64):  # a CF time coordinate in files
        res["snapshot"].attrs.update(long_name="start of the hour", standard_name="time")
    else:
        res["snapshot"].attrs.update(long_name="hour of the day", units="h")
    return Result(res, system)


def read_result(path: str | os.PathLike) -> Result:
    """Read results written by :meth:`Result.to_netcdf`, with their input system (files
    written before 0.2 have none: ``.system`` is then None)."""
    from flexnet.grid.system import System

    ds = open_flexnet_dataset(path)
    kind = ds.attrs.pop("flexnet_kind", None)
    if kind != _NC_KIND:
        raise DataError(f"{path}: not a flexnet results file (flexnet_kind={kind!r})")
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        has_system = "system" in nc.groups
    system = System(open_flexnet_dataset(path, group="system")) if has_system else None
    return Result(ds, system)


def asset_reserves(m: linopy.Model, res: xr.Dataset) -> xr.Dataset:
    """Attach hidden per-asset reserve totals and storage discharge used by the cost breakdown."""
    for block in ("building", "fleet", "storage", "der"):
        name = block.capitalize()
        if f"{name}-r-up" in m.variables:
            res[f"_asset_r_{block}"] = (_solution(m, f"{name}-r-up")
                                        + _solution(m, f"{name}-r-down"))
    if "Storage-p-discharge" in m.variables:
        res["_storage_discharge"] = _solution(m, "Storage-p-discharge")
    if "Node-v" in m.variables:
        res["_node_v2"] = _solution(m, "Node-v")
    return res


if __name__ == "__main__":  # pragma: no cover
    print(results_markdown(), end="")
