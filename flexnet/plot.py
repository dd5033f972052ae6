"""Figures of a :class:`flexnet.Result` (matplotlib; each function returns a Figure).

:func:`save_figures` writes every figure that applies to a result as PNG files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib as mpl

mpl.use("Agg")  # files only: no display needed on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from flexnet.errors import DataError  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from flexnet.results import Result

__all__ = ["FIGURES", "admm_convergence", "building_temperatures", "comparison_bars",
           "interval_envelopes", "line_loading", "lmp_heatmap", "pcc_exchange", "save_figures",
           "storage_energy", "voltage_profiles"]


def _need(result: Result, *names: str) -> None:
    missing = [n for n in names if n not in result.dataset]
    if missing:
        raise DataError(f"result ({result.scheme or 'unknown scheme'}) has no {missing[0]!r}; "
                        "this figure needs it")


def _title(result: Result, what: str) -> str:
    return f"{what} — {result.scheme} ({result.dataset.attrs.get('case', '')})"


def voltage_profiles(result: Result) -> Figure:
    """Min and max voltage over the day per node, one line per feeder (DSO)."""
    _need(result, "node_v")
    r = result.dataset
    fig, ax = plt.subplots(figsize=(8, 4))
    v = r.node_v
    dso = (r.node_dso.values if "node_dso" in r.coords else
           result.system.ds.node_dso.sel(node=v.node.values).values
           if result.system is not None else None)
    groups = np.unique(dso) if dso is not None else [None]
    for g in groups:
        sel = v if g is None else v.isel(node=np.flatnonzero(dso == g))
        x = np.arange(sel.sizes["node"])
        line = ax.plot(x, sel.min("snapshot"), label=f"{g or 'all'} min")[0]
        ax.plot(x, sel.max("snapshot"), ls="--", color=line.get_color(), label=f"{g or 'all'} max")
    ax.axhline(0.95, color="grey", lw=0.8)
    ax.axhline(1.05, color="grey", lw=0.8)
    ax.set(xlabel="node (from the substation)", ylabel="voltage [p.u.]",
           title=_title(result, "DS voltages, min/max over the day"))
    ax.legend(fontsize=7, ncol=2)
    return fig


def lmp_heatmap(result: Result) -> Figure:
    """LMPs as an hour × bus heatmap."""
    _need(result, "bus_lmp")
    lmp = result.dataset.bus_lmp.transpose("snapshot", "bus")
    fig, ax = plt.subplots(figsize=(8, 4))
    im = ax.imshow(lmp.values, aspect="auto", cmap="viridis", origin="lower")
    fig.colorbar(im, ax=ax, label="$/MWh")
    ax.set(xlabel="bus", ylabel="hour", title=_title(result, "LMP"))
    if lmp.sizes["bus"] <= 40:
        ax.set_xticks(range(lmp.sizes["bus"]), [str(b) for b in lmp.bus.values], fontsize=6,
                      rotation=90)
    return fig


def line_loading(result: Result) -> Figure:
    """TS line loading (|flow| / rating) over the day, the most loaded lines highlighted."""
    _need(result, "line_loading")
    ld = result.dataset.line_loading.transpose("snapshot", "line")
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(ld.snapshot, ld.values, color="lightgrey", lw=0.7)
    top = np.argsort(ld.max("snapshot").values)[-5:]
    for i in top:
        ax.plot(ld.snapshot, ld.values[:, i], lw=1.5, label=str(ld.line.values[i]))
    ax.axhline(1.0, color="red", lw=0.8)
    ax.set(xlabel="hour", ylabel="loading [-]", title=_title(result, "TS line loading"))
    ax.legend(fontsize=7, title="most loaded")
    return fig


def pcc_exchange(result: Result) -> Figure:
    """PCC import and the up/down flexibility offered, per DSO."""
    _need(result, "pcc_p")
    r = result.dataset
    dsos = r.dso.values
    fig, axes = plt.subplots(len(dsos), 1, figsize=(8, 1.8 * len(dsos) + 1), sharex=True,
                             squeeze=False)
    for ax, d in zip(axes[:, 0], dsos, strict=True):
        p = r.pcc_p.sel(dso=d)
        ax.plot(r.snapshot, p, color="k", label="import")
        if "pcc_flex_up" in r:
            ax.fill_between(r.snapshot, p - r.pcc_flex_up.sel(dso=d),
                            p + r.pcc_flex_down.sel(dso=d), alpha=0.3, label="flexibility")
        ax.set_ylabel(f"{d} [MW]")
    axes[0, 0].legend(fontsize=7)
    axes[0, 0].set_title(_title(result, "PCC exchange and flexibility"))
    axes[-1, 0].set_xlabel("hour")
    return fig


def building_temperatures(result: Result) -> Figure:
    """Smart-building indoor temperatures against their comfort bands."""
    _need(result, "building_temperature")
    r = result.dataset
    t = r.building_temperature.transpose("snapshot", "building")
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(t.snapshot, t.values, lw=0.8)
    system = result.system
    if system is not None and "building_t_min" in system.ds:
        ax.axhline(float(system.ds.building_t_min.min()), color="b", ls="--", label="comfort band")
        ax.axhline(float(system.ds.building_t_max.max()), color="r", ls="--")
        ax.legend(fontsize=7)
    ax.set(xlabel="hour", ylabel="°C", title=_title(result, "SB temperatures"))
    return fig


def storage_energy(result: Result) -> Figure:
    """Energy stored in EV fleets and BESS over the day."""
    _need(result, "storage_soc")
    r = result.dataset
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, var, dim in (("BESS", "storage_soc", "storage"), ("EV fleet", "fleet_energy", "fleet")):
        if var in r:
            x = r[var].transpose("snapshot", dim)
            for i in range(x.sizes[dim]):
                ax.plot(x.snapshot, x.values[:, i], ls="-" if name == "BESS" else ":",
                        label=f"{name} {x[dim].values[i]}")
    ax.set(xlabel="hour", ylabel="MWh", title=_title(result, "EV fleet and BESS energy"))
    ax.legend(fontsize=6, ncol=2)
    return fig


def interval_envelopes(result: Result) -> Figure:
    """Interval algorithm: BESS net power per scenario against the stage-1 plan."""
    _need(result, "scenario_storage_p")
    r = result.dataset
    sp = r.scenario_storage_p.sum("storage")
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.fill_between(r.snapshot, sp.min("scenario"), sp.max("scenario"), alpha=0.3,
                    label="scenario envelope")
    if "storage_p" in r:
        ax.plot(r.snapshot, r.storage_p.sum("storage"), color="k", label="stage 1 (forecast)")
    ax.set(xlabel="hour", ylabel="BESS net charging [MW]",
           title=_title(result, "interval extremes: BESS response"))
    ax.legend(fontsize=7)
    return fig


def admm_convergence(result: Result) -> Figure:
    """ADMM primal/dual residuals and ρ per iteration."""
    _need(result, "admm_primal_residual")
    r = result.dataset
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.semilogy(r.iteration, r.admm_primal_residual, label="primal residual [MW]")
    ax.semilogy(r.iteration, r.admm_dual_residual, label="dual residual")
    ax.semilogy(r.iteration, r.admm_rho, ls=":", label="ρ")
    ax.set(xlabel="iteration", title=_title(result, "ADMM convergence"))
    ax.legend(fontsize=7)
    return fig


def comparison_bars(table: pd.DataFrame, metrics: tuple[str, ...] = (
        "total_cost", "flexibility_market_cost", "congested_line_hours",
        "min_voltage_pu")) -> Figure:
    """Bars of a :func:`flexnet.compare` table (schemes as columns), one panel per metric."""
    rows = [m for m in metrics if m in table.index]
    if not rows:
        raise DataError(f"comparison table has none of the metrics {', '.join(metrics)}")
    fig, axes = plt.subplots(1, len(rows), figsize=(3.2 * len(rows), 3.5), squeeze=False)
    for ax, m in zip(axes[0], rows, strict=True):
        vals = table.loc[m].astype(float)
        ax.bar(range(vals.size), vals.values, color=plt.cm.tab10(np.arange(vals.size)))
        ax.set_xticks(range(vals.size), vals.index, rotation=30, ha="right", fontsize=8)
        ax.set_title(m, fontsize=9)
        if m == "min_voltage_pu":
            ax.set_ylim(min(0.9, float(vals.min()) - 0.01), 1.0)
    fig.suptitle("scheme comparison")
    fig.tight_layout()
    return fig


#: figure name → (function, result variable it needs)
FIGURES = {
    "voltage_profiles": (voltage_profiles, "node_v"),
    "lmp_heatmap": (lmp_heatmap, "bus_lmp"),
    "line_loading": (line_loading, "line_loading"),
    "pcc_exchange": (pcc_exchange, "pcc_p"),
    "building_temperatures": (building_temperatures, "building_temperature"),
    "storage_energy": (storage_energy, "storage_soc"),
    "interval_envelopes": (interval_envelopes, "scenario_storage_p"),
    "admm_convergence": (admm_convergence, "admm_primal_residual"),
}


def save_figures(result: Result, directory: str | os.PathLike, prefix: str = "") -> list[Path]:
    """Write every figure that applies to ``result`` as ``<prefix><name>.png``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (func, needs) in FIGURES.items():
        if needs not in result.dataset:
            continue
        fig = func(result)
        path = out / f"{prefix}{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written
