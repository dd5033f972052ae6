"""SimBench importer (optional extra ``flexnet[simbench]``): a multi-level system for any
day of SimBench's profile year.

SimBench (Meinecke et al., Energies 13(12) 3290, 2020; the ``simbench`` package) ships
German benchmark grids for every voltage level with a year (2016) of 15-minute profiles.
:func:`simbench_system` takes its extra-high-voltage grid as the transmission system and
attaches medium-voltage grids as radial feeders, each under its own DSO:

- **profiles:** only the chosen day is kept (96 quarter-hours → 24 hourly means) right
  after each grid is read, so memory stays that of the grids;
- **TS:** :func:`~flexnet.grid.pandapower.ts_from_pandapower` with switches honoured
  (3,085 EHV buses fuse to 571); power plants (``gen``) and the nuclear ``ext_grid``
  units are dispatchable at the cost of their fuel type (:data:`FUEL_COSTS`, from
  ``datasets/simbench_costs.csv``); renewables (``sgen``) are curtailable ``wind``
  elements at zero cost; HV-grid loads whose profile is net generation in an hour give
  that surplus as a curtailable element. There is no unit commitment, so the plants'
  ``min_p_mw`` is not enforced (``must_run=False``, else 338 units would run at ≥ 50 MW);
- **feeders:** :func:`~flexnet.grid.pandapower.feeders_from_pandapower` on each MV grid
  (its HV/MV transformers as the PCC, switches honoured), loads with their own P and Q
  profiles, sgens as curtailable PV/DG, attached at EHV buses (default: the buses of the
  largest EHV loads), each feeder's demand taken out of that bus's load.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from flexnet.errors import DataError
from flexnet.grid.assets import DATASETS
from flexnet.grid.pandapower import feeders_from_pandapower, ts_from_pandapower
from flexnet.grid.system import System
from flexnet.progress import Ticker, mode

__all__ = ["DEFAULT_DAY", "DEFAULT_EHV", "DEFAULT_MV", "FUEL_COSTS", "day_profiles",
           "simbench_system"]

logger = logging.getLogger(__name__)

DEFAULT_EHV = "1-EHV-mixed--0-sw"
DEFAULT_MV = ("1-MV-rural--0-sw", "1-MV-semiurb--0-sw", "1-MV-urban--0-sw", "1-MV-comm--0-sw")
DEFAULT_DAY = "2016-01-15"
_YEAR = 2016  # SimBench's profile year (366 days × 96 quarter-hours)


def _fuel_costs() -> pd.Series:
    t = pd.read_csv(DATASETS / "simbench_costs.csv", comment="#").set_index("type")
    eur = (t.fuel_eur_per_mwh_th + t.co2_t_per_mwh_th * t.co2_eur_per_t) / t.efficiency \
        + t.vom_eur_per_mwh
    eur = eur.where(t.price_eur_per_mwh.isna(), t.price_eur_per_mwh)
    return (eur * t.usd_per_eur).rename("cost_usd_per_mwh")


#: short-run marginal cost ($/MWh) by SimBench ``type`` (``datasets/simbench_costs.csv``)
FUEL_COSTS: pd.Series = _fuel_costs()


def _need_simbench() -> Any:
    try:
        import simbench
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the SimBench case needs `pip install flexnet[simbench]`") from exc
    return simbench


def _day(day: str | pd.Timestamp) -> pd.Timestamp:
    try:
        d = pd.Timestamp(day).normalize()
    except (ValueError, TypeError) as exc:
        raise DataError(f"day {day!r}: not a date (use YYYY-MM-DD, e.g. {DEFAULT_DAY})") from exc
    if d.year != _YEAR:
        raise DataError(f"day {d.date()}: SimBench's profiles cover {_YEAR}-01-01 to "
                        f"{_YEAR}-12-31 only")
    return d


def day_profiles(net: Any, day: str | pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Hourly means of one day of a SimBench net's relative profiles, and the net's year
    of profiles dropped (``net.profiles`` is emptied to free its memory).

    Returns
    -------
    dict
        ``"load"``, ``"renewables"``, ``"powerplants"``, ``"storage"``: DataFrames of
        24 rows (hour) × profile columns, as SimBench's (p.u. of the element's ``p_mw``).
    """
    d = _day(day)
    key = d.strftime("%d.%m.%Y")
    out = {}
    for kind, frame in net.profiles.items():
        rows = frame[frame["time"].astype(str).str.startswith(key)]
        if kind != "storage" and len(rows) != 96:
            raise DataError(f"day {d.date()}: SimBench's {kind} profile has {len(rows)} "
                            "quarter-hours, not 96")
        values = rows.drop(columns="time").astype(float).to_numpy()
        hourly = values.reshape(24, 4, -1).mean(axis=1) if len(rows) else np.zeros((24, 0))
        out[kind] = pd.DataFrame(hourly, columns=rows.columns.drop("time"))
    net.profiles = {}
    return out


def _absolute(table: pd.DataFrame, prof: pd.DataFrame, suffix: str = "",
              col: str = "p_mw", kind: str = "load") -> pd.DataFrame:
    """Hourly MW (or Mvar) of each element: its profile × its rated value."""
    names = table.profile.astype(str) + suffix
    missing = names[~names.isin(prof.columns)]
    if len(missing):
        raise DataError(f"{kind} {missing.index[0]}: profile {missing.iloc[0]!r} is not in the "
                        "SimBench profiles")
    rel = prof[names.to_numpy()].to_numpy()
    return pd.DataFrame(rel * table[col].to_numpy(dtype=float)[None, :], columns=table.index)


def _read(code: str, day: pd.Timestamp) -> tuple[Any, dict[str, pd.DataFrame]]:
    """A SimBench grid with its one day of absolute values (MW, Mvar) per element:
    ``p_load``, ``q_load`` and ``p_sgen`` (in-service elements)."""
    net = _need_simbench().get_simbench_net(code)
    prof = day_profiles(net, day)
    ld = net.load[net.load.in_service.astype(bool)]
    sg = net.sgen[net.sgen.in_service.astype(bool)]
    return net, {"p_load": _absolute(ld, prof["load"], "_pload"),
                 "q_load": _absolute(ld, prof["load"], "_qload", col="q_mvar"),
                 "p_sgen": _absolute(sg, prof["renewables"], kind="sgen")}


def _ts(code: str, day: pd.Timestamp) -> xr.Dataset:
    net, values = _read(code, day)
    unknown = sorted((set(net.gen.type) | set(net.ext_grid.type)) - set(FUEL_COSTS.index))
    if unknown:
        raise DataError(f"SimBench {code}: no cost for fuel type {unknown[0]!r} in "
                        "datasets/simbench_costs.csv")
    cost = pd.concat([
        pd.Series(FUEL_COSTS.loc[net.gen.type].to_numpy(), index=[f"gen{i}" for i in net.gen.index]),
        pd.Series(FUEL_COSTS.loc[net.ext_grid.type].to_numpy(),
                  index=[f"ext_grid{i}" for i in net.ext_grid.index]),
    ])
    return ts_from_pandapower(net, p_load=values["p_load"], p_sgen=values["p_sgen"],
                              renewables="curtailable", gen_cost=cost, must_run=False)


def _feeders(code: str, day: pd.Timestamp, prefix: str) -> list[xr.Dataset]:
    net, values = _read(code, day)
    return feeders_from_pandapower(net, prefix, **values)


def simbench_system(
    day: str | pd.Timestamp = DEFAULT_DAY,
    *,
    ehv: str = DEFAULT_EHV,
    mv: Sequence[str] = DEFAULT_MV,
    at: Sequence[str] | None = None,
    assets: str | xr.Dataset | None = "auto",
    seed: int = 0,
) -> System:
    """A SimBench multi-level system for one day of 2016: the EHV grid as the TS and MV
    grids as feeders (see the module docstring for every modelling choice).

    Parameters
    ----------
    day : str or Timestamp
        Any day of 2016, e.g. ``"2016-01-15"``.
    ehv : str
        SimBench code of the transmission grid.
    mv : list of str
        SimBench codes of the MV grids; each gives one feeder per HV/MV substation
        (``1-MV-urban--0-sw`` has two).
    at : list of str, optional
        The EHV bus of each feeder (in order); default the buses of the largest EHV
        loads, one per feeder.
    assets : "auto", Dataset or None
        As in :meth:`~flexnet.System.compose`: ``"auto"`` adds buildings, EV fleets and a
        BESS per feeder; None keeps SimBench's own elements only.
    seed : int
        Seed of the asset recipe.

    Examples
    --------
    >>> s = simbench_system("2016-07-01", mv=["1-MV-rural--0-sw"])  # doctest: +SKIP
    """
    d = _day(day)
    # ≈ 5 s per grid (simbench reads its year of profiles): a bar, or lines in a log
    bar = tqdm(total=1 + len(mv), desc="reading SimBench grids", disable=mode() != "bar")
    tick = Ticker("reading SimBench grids")
    ts = _ts(ehv, d)
    bar.update()
    feeders: list[xr.Dataset] = []
    for k, code in enumerate(mv):  # a few grids, each read once
        part = code.split("-")[2] if code.count("-") >= 2 else f"mv{k}"
        feeders += _feeders(code, d, f"{part}{k}-")
        bar.update()
        tick.update(grids=f"{k + 2}/{1 + len(mv)}")
        logger.info("SimBench %s: %d feeders so far", code, len(feeders))
    bar.close()
    if at is None:
        peak = ts.load_p.max("snapshot").to_series().sort_values(ascending=False)
        at = list(ts.load_bus.sel(load=peak.index[:len(feeders)].to_numpy()).values)
        if len(at) < len(feeders):
            raise DataError(f"SimBench {ehv}: {len(feeders)} feeders but only {len(at)} load buses")
    elif len(at) != len(feeders):
        raise DataError(f"SimBench: {len(feeders)} feeders from {len(mv)} MV grids but "
                        f"{len(at)} buses in 'at'")
    n_gen = ts.sizes["gen"]
    s = System.compose(ts, feeders, [str(b) for b in at], assets=assets, seed=seed,
                       name="simbench")
    s.ds.attrs.update(
        day=str(d.date()), source=f"SimBench {ehv} + {', '.join(mv)}",
        description=(f"SimBench {ehv} ({ts.sizes['bus']} buses after switches, {n_gen} "
                     f"plants) + {len(feeders)} MV feeders, {d.date()}"))
    return s
