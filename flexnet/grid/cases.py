"""Shipped cases: IEEE feeders, IEEE transmission systems and the default composite case."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr

from flexnet.errors import DataError
from flexnet.grid.assets import (
    DATASETS,
    add_markets_and_uncertainty,
    make_assets,
    profiles,
    rate_feeders,
)
from flexnet.grid.matpower import feeder_from_matpower, read_matpower, ts_from_matpower
from flexnet.grid.system import System

__all__ = ["DEFAULT_CASE", "list_cases", "load_case"]

DEFAULT_CASE = "rts24-dso"
#: the default case with three times the EVs and PV on the same feeders
STRESSED_CASE = "rts24-dso-stressed"
_MP = DATASETS / "matpower"

# IEEE RTS-96 ramp rates (Grigg et al. 1999, Table 7), MW/min, by unit size (MW)
_RTS_RAMP = {12: 1.0, 20: 3.0, 50: 60.0, 76: 2.0, 100: 7.0, 155: 3.0, 197: 3.0, 350: 4.0,
             400: 20.0}


def _feeder(name: str, dso: str, **kw) -> xr.Dataset:
    return feeder_from_matpower(read_matpower(_MP / f"{name}.m"), dso, r_x_unit="ohm",
                                load_unit="kW", **kw)


def concat_feeders(parts: list[xr.Dataset]) -> xr.Dataset:
    """Flatten several single-feeder datasets into one ``dso``/``node``/``branch`` set."""
    return xr.merge([
        xr.concat([p[[v for v in p.data_vars if v.startswith(e + "_")]] for p in parts], e)
        for e in ("dso", "node", "branch")
    ])


def _rts24(load: np.ndarray) -> xr.Dataset:
    ds = ts_from_matpower(read_matpower(_MP / "case24_ieee_rts.m"), load_profile=load)
    per_min = np.array([_RTS_RAMP.get(int(round(p)), 5.0) for p in ds.gen_p_max.values])
    ds["gen_ramp"] = ("gen", np.minimum(60.0 * per_min, ds.gen_p_max.values))
    return ds


def _finish(ds: xr.Dataset, name: str, seed: int = 1) -> System:
    prof = profiles(ds.sizes["snapshot"])
    ds = add_markets_and_uncertainty(ds, prof, np.random.default_rng(seed))
    ds.attrs["name"] = name
    return System(ds)


def _ieee33() -> System:
    return _finish(_feeder("case33bw", "ieee33", load_profile=profiles()["load"].to_numpy()),
                   "ieee33")


def _ieee69() -> System:
    return _finish(_feeder("case69", "ieee69", load_profile=profiles()["load"].to_numpy()),
                   "ieee69")


def _rts() -> System:
    return _finish(_rts24(profiles()["load"].to_numpy()), "rts24")


def _ieee118() -> System:
    ds = ts_from_matpower(read_matpower(_MP / "case118.m"), default_rating=500.0,
                          load_profile=profiles()["load"].to_numpy())
    return _finish(ds, "ieee118")


def _composite(stressed: bool = False) -> System:
    """RTS-24 with four distribution areas (2 × IEEE 33, 2 × IEEE 69) and their assets.

    Each DSO is ``scale`` identical feeders in parallel (loads × scale, impedances ÷
    scale), so voltages are those of the original feeder while the area carries tens of
    MW. The DSO load is taken out of the PCC bus load so the TS total stays published.
    Three 250 MW wind farms and derated 138 kV lines make the TS congested.

    ``stressed``: the same TS, feeders and feeder ratings (rated for the default assets),
    with three times the EV fleets and PV plants per feeder (flexnet/datasets/README.md).
    """
    prof = profiles()
    load = prof["load"].to_numpy()
    rng = np.random.default_rng(2023)
    ts = _rts24(load)
    feeders = [("case33bw", "DSO1", "3", 15.0), ("case69", "DSO2", "4", 12.0),
               ("case33bw", "DSO3", "9", 15.0), ("case69", "DSO4", "10", 12.0)]
    parts = [_feeder(f, d, load_profile=load, scale=s) for f, d, _, s in feeders]
    ds_ds = concat_feeders(parts)
    ds_ds["dso_bus"] = ("dso", np.array([b for _, _, b, _ in feeders], dtype=object))
    ds_ds["dso_v0"] = ("dso", np.full(4, 1.05))
    ds_ds["dso_v_min"] = ("dso", np.full(4, 0.95))
    ds_ds["dso_v_max"] = ("dso", np.full(4, 1.05))
    dso_peak = ds_ds.node_p_load.groupby(ds_ds.node_dso).sum().max("snapshot")
    dso_peak = dso_peak.reindex(node_dso=ds_ds.dso.values).values
    # take the DSO demand out of its PCC bus's TS load (same profile shape)
    take = dict.fromkeys(ts["load"].values, 0.0)
    for (_, _, b, _), pk in zip(feeders, dso_peak, strict=True):
        take[f"D{b}"] += pk
    peak = ts.load_p.max("snapshot")
    factor = 1 - xr.DataArray([take[i] for i in ts["load"].values], dims="load") / peak
    if (factor <= 0).any():
        raise DataError("composite case: a DSO is larger than its PCC bus load")
    ts["load_p"] = ts.load_p * factor
    # wind: three 250 MW farms in the 138 kV area and the north
    wind_bus = np.array(["1", "7", "16"], dtype=object)
    ts = ts.assign_coords(wind=np.array(["W1", "W2", "W3"], dtype=object))
    ts["wind_bus"] = ("wind", wind_bus)
    ts["wind_p"] = (("snapshot", "wind"), np.outer(prof["wind"].to_numpy(), [250.0, 250.0, 250.0]))
    # derate the 138/230 kV interface so coordination matters (documented in flexnet/datasets/README.md)
    derate = {"L7": 0.55, "L14": 0.55, "L15": 0.55, "L16": 0.55, "L17": 0.55}
    s_max = ts.line_s_max.to_series()
    for line, f in derate.items():
        s_max[line] *= f
    ts["line_s_max"] = ("line", s_max.to_numpy())
    assets = make_assets(ds_ds.node.values, ds_ds.node_dso.values, ds_ds.dso.values, dso_peak,
                         prof, rng)
    ds = rate_feeders(xr.merge([ts, ds_ds, assets], compat="override", join="outer"))
    name = DEFAULT_CASE
    if stressed:  # more EVs and PV on the grid that was rated for the default assets
        more = make_assets(ds_ds.node.values, ds_ds.node_dso.values, ds_ds.dso.values, dso_peak,
                           prof, np.random.default_rng(2023), fleets=3, pv=6)
        ds = xr.merge([ds.drop_dims(list(set(more.sizes) - {"snapshot"})), more],
                      compat="override", join="outer")
        name = STRESSED_CASE
    ds_ds_sum = float(ds.node_p_load.sum("node").max())
    ds.attrs.update(ts.attrs, description=(
        f"IEEE RTS-24 + 4 DSOs ({ds_ds_sum:.0f} MW peak DS load), "
        f"{ds.sizes['building']} smart buildings, {ds.sizes['fleet']} EV fleets, "
        f"{ds.sizes['storage']} BESS, {ds.sizes['der']} DERs, 3 wind farms"))
    return _finish(ds, name, seed=7)


def _simbench(day: str | None = None) -> System:
    from flexnet.grid.simbench import DEFAULT_DAY, simbench_system

    return simbench_system(day or DEFAULT_DAY)


_CASES: dict[str, tuple[Callable[..., System], str]] = {
    "ieee33": (_ieee33, "IEEE 33-bus feeder (Baran & Wu 1989), feeder only"),
    "ieee69": (_ieee69, "IEEE 69-bus feeder (Baran & Wu 1989; MATPOWER case69), feeder only"),
    "rts24": (_rts, "IEEE RTS-24 (1979/1996), transmission only"),
    "ieee118": (_ieee118, "IEEE 118-bus, transmission only, 500 MW default line rating"),
    DEFAULT_CASE: (_composite, "default: RTS-24 + 4 feeders with buildings, EVs, BESS, PV, wind"),
    STRESSED_CASE: (lambda: _composite(stressed=True),
                    "the default case with 3x the EV fleets and PV plants on the same feeders"),
    "simbench": (_simbench, "SimBench EHV (571 buses after switches) + 4 MV grids (5 feeders), "
                            "any day of 2016 (--day); needs flexnet[simbench]"),
}
#: cases that take a day of their profile year
DAY_CASES = ("simbench",)


def list_cases() -> list[str]:
    """Names of the shipped cases (the default composite case is ``"rts24-dso"``).

    Examples
    --------
    >>> import flexnet
    >>> "ieee33" in flexnet.list_cases()
    True
    """
    return list(_CASES)


def case_descriptions() -> dict[str, str]:
    """One-line description of every shipped case."""
    return {k: v[1] for k, v in _CASES.items()}


def load_case(name: str = DEFAULT_CASE, *, day: str | None = None) -> System:
    """Load a shipped case by name.

    Parameters
    ----------
    name : str
        One of :func:`list_cases`.
    day : str, optional
        The day (``YYYY-MM-DD``) of a case with a year of profiles (``"simbench"``: any
        day of 2016, default 2016-01-15).

    Raises
    ------
    DataError
        If the name is unknown (the message lists the shipped cases), or a day is given
        for a case without a profile year.
    """
    if name not in _CASES:
        raise DataError(f"unknown case {name!r}; shipped cases: {', '.join(_CASES)}")
    if name in DAY_CASES:
        return _CASES[name][0](day)
    if day is not None:
        raise DataError(f"case {name!r}: has one stylised day; 'day' applies to "
                        f"{', '.join(DAY_CASES)} only")
    return _CASES[name][0]()
