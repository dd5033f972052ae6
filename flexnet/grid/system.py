"""The :class:`System` container: one validated xarray Dataset for TS, DSOs and assets."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from flexnet.errors import DataError
from flexnet.grid.schema import ELEMENTS, FIELDS, GLOBAL_ATTRS
from flexnet.grid.validate import validate as _validate

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["System", "atomic_to_netcdf", "read_system"]

_NC_KIND = "flexnet-system"


def _concat_elements(parts: list[xr.Dataset]) -> xr.Dataset:
    """Datasets over disjoint elements (feeders and their assets) stacked element-wise."""
    out = []
    for element in ELEMENTS:
        have = [p[[v for v in p.data_vars if v.startswith(element + "_")]] for p in parts
                if element in p.dims]
        if have:
            out.append(xr.concat(have, element))
    return xr.merge(out)


def _add_elements(ds: xr.Dataset, extra: xr.Dataset) -> xr.Dataset:
    """``extra``'s elements appended to ``ds``'s (e.g. recipe assets next to a feeder's own
    PV), both completed with the schema defaults first so their fields line up."""
    a, b = _fill_defaults(ds), _fill_defaults(extra)
    for e in ELEMENTS:
        if e in a.dims and e in b.dims:
            clash = np.intersect1d(a[e].values, b[e].values)
            if clash.size:
                raise DataError(f"{e} {str(clash[0])!r}: the id is used twice ({clash.size} ids)")
            fields = [v for v in a.data_vars if v.startswith(e + "_") and a[v].dims[-1] == e]
            missing = [v for v in fields if v not in b] + \
                [v for v in b.data_vars if v.startswith(e + "_") and v not in a]
            if missing:
                raise DataError(f"{e}: field {missing[0]!r} is given for some {e}s only")
    stacked = _concat_elements([a, b])
    rest = [p.drop_vars([v for v in stacked.data_vars if v in p]) for p in (a, b)]
    return xr.merge([stacked, *rest], compat="override", join="outer")


def _fill_defaults(ds: xr.Dataset) -> xr.Dataset:
    # new fields are collected and added in one assign: one xarray merge instead of one
    # per field (≈ 5 ms each, ≈ 0.8 s per System; DSO agents build several)
    ds = ds.copy()
    for key, (value, _, _) in GLOBAL_ATTRS.items():
        ds.attrs.setdefault(key, value)
    new: dict[str, Any] = {}
    for f in FIELDS:
        if f.name in ds or f.default is None:
            continue
        if any(d not in ds.dims for d in f.dims):
            continue
        if isinstance(f.default, str) and f.default.startswith("="):
            src = f.default[1:]
            if src in ds or src in new:
                new[f.name] = (ds[src] if src in ds else new[src]).copy()
            continue
        shape = tuple(ds.sizes[d] for d in f.dims)
        new[f.name] = xr.Variable(f.dims, np.full(shape, f.default, dtype=float))
    ds = ds.assign(new)
    for f in FIELDS:
        if f.name in ds:
            ds[f.name].attrs.update(units=f.units, long_name=f.description)
    return ds


def _normalise(ds: xr.Dataset) -> xr.Dataset:
    """Ids as plain Python strings, a consistent dim order, booleans as bool."""
    ids = {}
    for element in ELEMENTS:
        if element in ds.dims:
            if element not in ds.coords:
                raise DataError(f"{element}: dimension has no id coordinate")
            ids[element] = ds[element].values.astype(str).astype(object)
    ds = ds.assign_coords(ids)  # a new Dataset: the caller's is left alone
    fields: dict[str, xr.DataArray] = {}  # one assign at the end (see _fill_defaults)
    for f in FIELDS:
        if f.name not in ds:
            continue
        da = orig = ds[f.name]
        if set(da.dims) == set(f.dims) and da.dims != tuple(f.dims):
            da = da.transpose(*f.dims)
        if f.rule.startswith("ref:") or f.rule == "str":
            da = da.astype(str).astype(object)
        elif f.rule == "bool" and da.dtype != bool:
            vals = da.values
            if np.issubdtype(vals.dtype, np.number) and np.isin(vals, [0, 1]).all():
                da = da.astype(bool)
        if da is not orig:
            fields[f.name] = da
    return ds.assign(fields)


class System:
    """A validated TSO–DSO system: transmission grid, feeders, assets, profiles, markets.

    Parameters
    ----------
    dataset : xarray.Dataset
        Fields named ``<element>_<attr>`` over flat element dims (see ``docs/schema.md``).
        Optional fields are filled with their defaults.
    validate : bool, default True
        Run every validation rule. Only turn off for data already validated.

    Raises
    ------
    DataError
        If any rule fails; the message names element, id and field.
    """

    def __init__(self, dataset: xr.Dataset, *, validate: bool = True) -> None:
        ds = _fill_defaults(_normalise(dataset))
        if validate:
            _validate(ds)
        self.ds: xr.Dataset = ds

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_frames(
        cls,
        snapshots: int | pd.Index,
        static: Mapping[str, pd.DataFrame] | None = None,
        series: Mapping[str, pd.DataFrame] | None = None,
        attrs: Mapping[str, object] | None = None,
    ) -> System:
        """Build a system from pandas tables, PyPSA-style.

        Parameters
        ----------
        snapshots : int or pandas.Index
            Number of hours or the snapshot index.
        static : dict of str to DataFrame
            Per element (e.g. ``"gen"``), a table indexed by id whose columns are the
            attribute names without the element prefix (``p_max``, ``bus``, ...).
        series : dict of str to DataFrame
            Per field (e.g. ``"load_p"``), a table indexed by snapshot, one column per id.
        attrs : dict, optional
            Scalar attributes (``voll``, ``base_mva``, ``name``, ...).

        Examples
        --------
        >>> import pandas as pd, flexnet
        >>> s = flexnet.System.from_frames(
        ...     2,
        ...     static={"bus": pd.DataFrame(index=["a"]),
        ...             "gen": pd.DataFrame({"bus": ["a"], "p_max": [10.0], "p_min": [0.0],
        ...                                  "ramp": [10.0], "cost": [20.0],
        ...                                  "cost_r_up": [1.0], "cost_r_down": [1.0]},
        ...                                 index=["g"]),
        ...             "load": pd.DataFrame({"bus": ["a"]}, index=["d"])},
        ...     series={"load_p": pd.DataFrame({"d": [5.0, 6.0]})})
        >>> s.ds.sizes["gen"]
        1
        """
        snap = pd.RangeIndex(snapshots) if isinstance(snapshots, int) else pd.Index(snapshots)
        ds = xr.Dataset(coords={"snapshot": snap.values})
        for element, frame in (static or {}).items():
            if element not in ELEMENTS:
                raise DataError(f"system: unknown element set {element!r}; "
                                f"known: {sorted(ELEMENTS)}")
            ids = frame.index.astype(str)
            ds = ds.assign_coords({element: np.asarray(ids, dtype=object)})
            for col in frame.columns:
                ds[f"{element}_{col}"] = (element, frame[col].to_numpy())
        for name, frame in (series or {}).items():
            element = name.split("_")[0]
            if len(frame.index) != snap.size:
                raise DataError(f"{element}: profile {name!r} has {len(frame.index)} rows but "
                                f"the system has {snap.size} snapshots")
            # cells keep their dtype: the validator names a text cell by element and hour
            if element not in ELEMENTS:
                ds[name] = ("snapshot", np.asarray(frame).reshape(-1))
                continue
            if element not in ds.coords:
                raise DataError(f"{element}: profile {name!r} given but no {element} table")
            cols = frame.columns.astype(str)
            missing = set(ds[element].values) - set(cols)
            if missing:
                raise DataError(f"{element} {sorted(missing)[0]!r}: profile {name!r} has no "
                                "column for this id")
            unknown = sorted(set(cols) - set(ds[element].values))
            if unknown:
                raise DataError(f"{element} {unknown[0]!r}: profile {name!r} has a column for "
                                f"an unknown {element} ({len(unknown)} unknown columns)")
            frame = frame.set_axis(cols, axis=1)
            ds[name] = (("snapshot", element), frame[list(ds[element].values)].to_numpy())
        ds.attrs.update(attrs or {})
        return cls(ds)

    @classmethod
    def compose(
        cls,
        ts: xr.Dataset | System,
        feeders: Sequence[xr.Dataset] = (),
        at: Sequence[str] = (),
        *,
        assets: str | xr.Dataset | None = None,
        markets: bool = True,
        take_load: bool = True,
        seed: int = 0,
        name: str = "composed",
    ) -> System:
        """A TSO–DSO system from a transmission grid, feeders and assets.

        Parameters
        ----------
        ts : Dataset or System
            The transmission part (``bus``, ``line``, ``gen``, ``load``, ...), e.g. from
            :func:`~flexnet.grid.matpower.ts_from_matpower` or
            :func:`~flexnet.grid.pandapower.ts_from_pandapower`.
        feeders : list of Dataset
            One radial feeder each (``dso``/``node``/``branch`` fields and any assets on
            its nodes), e.g. from :func:`~flexnet.grid.pandapower.feeders_from_pandapower`.
        at : list of str
            The TS bus of each feeder's PCC.
        assets : "auto", Dataset or None
            ``"auto"``: buildings, EV fleets, a BESS, PV and DG on every feeder, sized to
            its peak load (the recipe of the shipped cases, ``seed``); a Dataset: asset
            fields to add (e.g. one ``storage``); None: the feeders' own assets only.
        markets : bool
            Add outdoor temperature, retail and PCC prices, the flexibility requirement
            and forecast intervals from the shipped profiles (else the schema defaults).
        take_load : bool
            Take each feeder's load out of its PCC bus's TS load (same demand, now
            modelled in the feeder); a feeder larger than that load is an error.

        Examples
        --------
        See ``docs/examples/compose.py``: a pandapower transmission net, two CIGRE MV
        feeders and a battery, solved.
        """
        from flexnet.grid.assets import add_markets_and_uncertainty, make_assets, profiles

        base = (ts.ds if isinstance(ts, System) else ts).copy()
        if len(feeders) != len(at):
            raise DataError(f"compose: {len(feeders)} feeders but {len(at)} PCC buses in 'at'")
        T = base.sizes.get("snapshot", 1)
        for f in feeders:
            if f.sizes.get("snapshot", T) != T:
                raise DataError(f"dso {str(f.dso.values[0])!r}: {f.sizes['snapshot']} snapshots, "
                                f"the transmission grid has {T}")
        buses = set(base.bus.values.astype(str)) if "bus" in base.dims else set()
        for f, b in zip(feeders, at, strict=True):
            if str(b) not in buses:
                raise DataError(f"dso {str(f.dso.values[0])!r}: PCC bus {str(b)!r} (argument "
                                "'at') is not a transmission bus")
        parts = [base]
        if feeders:
            ds_ds = _concat_elements(list(feeders))
            ds_ds["dso_bus"] = ("dso", np.array([str(b) for b in at], dtype=object))
            parts.append(ds_ds)
            if take_load and "load_p" in base:
                demand = ds_ds.node_p_load.groupby(ds_ds.node_dso.rename("dso")).sum()
                per_bus = demand.assign_coords(dso=ds_ds.dso_bus.sel(dso=demand.dso).values) \
                    .groupby("dso").sum().rename(dso="bus")
                bus_load = base.load_p.groupby(base.load_bus.rename("bus")).sum()
                short = per_bus - bus_load.reindex(bus=per_bus.bus, fill_value=0.0)
                if bool((short > 1e-9).any()):
                    b = str(short.bus.values[int(np.argmax(short.max("snapshot").values))])
                    raise DataError(f"bus {b!r}: its feeders draw more than its TS load; pass "
                                    "take_load=False to add them on top")
                share = (base.load_p / bus_load.sel(bus=base.load_bus).values).fillna(0.0)
                cut = per_bus.reindex(bus=base.load_bus.values, fill_value=0.0).values
                base["load_p"] = base.load_p - share * cut
        ds = xr.merge(parts, compat="override", join="outer")
        rng = np.random.default_rng(seed)
        prof = profiles(T)
        if isinstance(assets, str):
            if assets != "auto":
                raise DataError(f"compose: assets must be 'auto', a Dataset or None, not {assets!r}")
            if "node" in ds.dims:
                peak = ds.node_p_load.groupby(ds.node_dso.rename("dso")).sum().max("snapshot")
                ds = _add_elements(ds, make_assets(ds.node.values, ds.node_dso.values,
                                                   ds.dso.values,
                                                   peak.reindex(dso=ds.dso.values).values,
                                                   prof, rng))
        elif assets is not None:
            ds = _add_elements(ds, assets)
        if markets:
            ds = add_markets_and_uncertainty(ds, prof, rng)
        ds.attrs = {**base.attrs, "name": name}
        return cls(ds)

    # -- accessors ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Case name."""
        return str(self.ds.attrs["name"])

    @property
    def snapshots(self) -> pd.Index:
        """Snapshot (hour) index."""
        return self.ds.indexes["snapshot"]

    def n(self, element: str) -> int:
        """Number of elements of a set (0 when the set is absent)."""
        return int(self.ds.sizes.get(element, 0))

    @property
    def has_ts(self) -> bool:
        """Whether the system has a transmission grid."""
        return self.n("bus") > 0

    @property
    def has_ds(self) -> bool:
        """Whether the system has distribution feeders."""
        return self.n("dso") > 0

    def summary(self) -> pd.DataFrame:
        """Element counts and headline totals (peak loads, capacities)."""
        ds = self.ds
        rows = {e: self.n(e) for e in ELEMENTS}
        out = pd.DataFrame({"count": pd.Series(rows)})
        totals = {}
        if self.n("load"):
            totals["TS peak load [MW]"] = float(ds.load_p.sum("load").max())
        if self.n("gen"):
            totals["generation capacity [MW]"] = float(ds.gen_p_max.sum())
        if self.n("wind"):
            totals["wind capacity (max forecast) [MW]"] = float(ds.wind_p.max("snapshot").sum())
        if self.n("node"):
            totals["DS peak load [MW]"] = float(ds.node_p_load.sum("node").max())
        if self.n("der"):
            totals["DER rating [MW]"] = float(ds.der_p_max.sum())
        if self.n("storage"):
            totals["BESS energy [MWh]"] = float(ds.storage_e_max.sum())
        out.attrs["totals"] = totals
        return out

    def __repr__(self) -> str:
        counts = ", ".join(f"{e}={self.n(e)}" for e in ELEMENTS if self.n(e))
        return f"<flexnet.System {self.name!r}: snapshot={self.ds.sizes['snapshot']}, {counts}>"

    def select(self, dsos: Sequence[str] | None = None, hours: int | None = None,
               name: str | None = None) -> System:
        """A sub-system: the TS plus some DSOs (with their nodes and assets), first hours.

        Used for DSO subproblems of decomposed schemes and for small test instances.
        Forecast-error samples keep the TS area and the selected DSOs' areas.
        """
        ds = self.ds
        sel: dict[str, Any] = {}
        if hours is not None:
            sel["snapshot"] = ds.snapshot.values[:hours]
        if dsos is not None and self.has_ds:
            dsos = list(dsos)
            unknown = sorted(set(dsos) - set(ds.dso.values))
            if unknown:
                raise DataError(f"dso {unknown[0]!r}: not in system {self.name!r}")
            nodes = ds.node.values[np.isin(ds.node_dso.values, dsos)]
            sel |= {"dso": dsos, "node": nodes,
                    "branch": ds.branch.values[np.isin(ds.branch_dso.values, dsos)]}
            for a in ("building", "fleet", "storage", "der"):
                if a in ds.dims:
                    sel[a] = ds[a].values[np.isin(ds[f"{a}_node"].values, nodes)]
            if "area" in ds.dims:
                sel["area"] = [a for a in ds.area.values if a == "ts" or a in dsos]
        out = ds.sel(sel)
        out.attrs["name"] = name or self.name
        return System(out, validate=False)

    def copy(self) -> System:
        """Deep copy (already validated, so no re-validation)."""
        return System(self.ds.copy(deep=True), validate=False)

    # -- io -------------------------------------------------------------------------------
    def to_netcdf(self, path: str | os.PathLike) -> Path:
        """Write the system to a netCDF file, atomically (no partial file on failure)."""
        ds = self.ds.copy()
        ds.attrs["flexnet_kind"] = _NC_KIND
        return atomic_to_netcdf(ds, path)


#: flexnet's unit strings → UDUNITS (what CF readers parse); a currency is not a unit, so
#: money units keep their physical part and carry ``currency = "$"``; the flexnet string
#: is kept in ``flexnet_units`` and restored on reading
_UDUNITS = {"p.u.": "1", "p.u. (system base_mva)": "1", "Mvar": "MV A", "MVA": "MV A",
            "MWh": "MW h", "MW/h": "MW h-1", "°C": "degC", "K/MW": "K MW-1",
            "MWh/K": "MW h K-1", "EVs": "1", "Ω": "ohm", "$": "1", "$/MWh": "MW-1 h-1",
            "$/MW/h": "MW-1 h-1", "$/MW²h": "MW-2 h-1"}
#: dims renamed in files: ``load`` shadows ``xarray.Dataset.load`` for readers of the file
_FILE_DIMS = {"load": "ts_load"}


def _encode(ds: xr.Dataset) -> xr.Dataset:
    """A dataset as flexnet writes it: bools as int8 (netCDF has none), UDUNITS units,
    file dim names, compression on numeric variables."""
    ds = ds.copy()
    for v in ds.variables:
        da = ds[v]
        if da.dtype == bool:
            ds[v] = da.astype("int8")
            ds[v].attrs["flexnet_dtype"] = "bool"
        units = ds[v].attrs.get("units")
        if units in _UDUNITS:
            ds[v].attrs.update(units=_UDUNITS[units], flexnet_units=units)
            if "$" in units:
                ds[v].attrs["currency"] = "$"
        elif units == "":
            del ds[v].attrs["units"]  # ids and text: no unit at all
    if "snapshot" in ds.coords and np.issubdtype(ds.snapshot.dtype, np.datetime64):
        ds["snapshot"].attrs.pop("units", None)  # CF time units are written by xarray
    return ds.rename({k: v for k, v in _FILE_DIMS.items() if k in ds.dims})


def _decode(ds: xr.Dataset) -> xr.Dataset:
    """The inverse of :func:`_encode` (files written before it read unchanged)."""
    ds = ds.rename({v: k for k, v in _FILE_DIMS.items() if v in ds.dims})
    for v in ds.variables:
        attrs = ds[v].attrs
        if attrs.pop("flexnet_dtype", None) == "bool":
            ds[v] = ds[v].astype(bool)
            attrs = ds[v].attrs
        if "flexnet_units" in attrs:
            attrs["units"] = attrs.pop("flexnet_units")
            attrs.pop("currency", None)
    return ds


def _compression(ds: xr.Dataset) -> dict[str, dict]:
    return {str(v): {"zlib": True, "complevel": 4} for v in ds.data_vars
            if ds[v].dtype.kind in "biuf" and ds[v].ndim}


def _clean_stale(path: Path) -> None:
    """Remove temporary files a killed earlier write left beside ``path`` (a live write
    of another process is younger than a minute and is left alone)."""
    import logging
    import time

    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime > 60:
                tmp.unlink()
                logging.getLogger("flexnet").warning("removed %s, left by an interrupted "
                                                     "write", tmp)
        except OSError:
            pass


def atomic_to_netcdf(ds: xr.Dataset, path: str | os.PathLike,
                     groups: Mapping[str, xr.Dataset] | None = None) -> Path:
    """Write ``ds`` (and ``groups``, each a netCDF group) to ``path`` through a temporary
    file renamed into place.

    A crash or Ctrl-C mid-way never leaves a partial file under ``path``, and removes its
    temporary file; one left by a killed process is removed at the next write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        enc = _encode(ds)
        enc.to_netcdf(tmp, engine="netcdf4", encoding=_compression(enc))
        for name, g in (groups or {}).items():
            enc = _encode(g)
            enc.to_netcdf(tmp, engine="netcdf4", mode="a", group=name,
                          encoding=_compression(enc))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def open_flexnet_dataset(path: str | os.PathLike, group: str | None = None) -> xr.Dataset:
    """Open a flexnet netCDF file (or one of its groups) fully into memory, decoded."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with xr.open_dataset(path, engine="netcdf4", group=group) as f:
            ds = f.load()
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable netCDF file ({exc})") from exc
    return _decode(ds)


def read_system(path: str | os.PathLike) -> System:
    """Read a system written by :meth:`System.to_netcdf`, validating it.

    Raises
    ------
    DataError
        If the file is not a flexnet system file or its data fail validation.
    """
    ds = open_flexnet_dataset(path)
    kind = ds.attrs.pop("flexnet_kind", None)
    if kind != _NC_KIND:
        raise DataError(f"{path}: not a flexnet system file (flexnet_kind={kind!r})")
    return System(ds)
