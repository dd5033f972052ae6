"""MATPOWER ``.m`` case importer (transmission systems and radial feeders).

Only the data matrices are read (``mpc.baseMVA``, ``mpc.bus``, ``mpc.gen``,
``mpc.branch``, ``mpc.gencost``); MATLAB statements after them are ignored, so unit
conversions that a case file performs in code (e.g. ``case33bw`` stores ohms and kW)
must be declared with the ``r_x_unit`` / ``load_unit`` arguments of
:func:`feeder_from_matpower`.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from flexnet.errors import DataError
from flexnet.grid.topology import downstream_sum, orient_tree

log = logging.getLogger("flexnet")

__all__ = ["feeder_dataset", "feeder_from_matpower", "read_matpower",
           "ts_from_matpower"]

# MATPOWER column indices (0-based), see MATPOWER's idx_bus / idx_gen / idx_brch
BUS_I, BUS_TYPE, PD, QD, BASE_KV, VMAX, VMIN = 0, 1, 2, 3, 9, 11, 12
GEN_BUS, PMAX, PMIN, GEN_STATUS, RAMP_30 = 0, 8, 9, 7, 18
F_BUS, T_BUS, BR_R, BR_X, RATE_A, TAP, SHIFT, BR_STATUS = 0, 1, 2, 3, 5, 8, 9, 10

_MATRIX = re.compile(r"mpc\.(\w+)\s*=\s*\[(.*?)\]\s*;", re.S)
_SCALAR = re.compile(r"mpc\.(baseMVA)\s*=\s*([^;\n]+);")
#: columns that must be finite numbers, by matrix (MATPOWER's names, 0-based positions)
_REQUIRED = {"bus": {"BUS_I": BUS_I, "BUS_TYPE": BUS_TYPE, "PD": PD, "QD": QD},
             "gen": {"GEN_BUS": GEN_BUS, "PMAX": PMAX, "PMIN": PMIN, "GEN_STATUS": GEN_STATUS},
             "branch": {"F_BUS": F_BUS, "T_BUS": T_BUS, "BR_R": BR_R, "BR_X": BR_X,
                        "RATE_A": RATE_A, "BR_STATUS": BR_STATUS}}


def read_matpower(path: str | Path) -> dict[str, np.ndarray | float]:
    """Parse the numeric matrices of a MATPOWER case file.

    Parameters
    ----------
    path : str or Path
        A MATPOWER version-2 ``.m`` case file.

    Returns
    -------
    dict
        ``baseMVA`` (float) and ``bus``, ``gen``, ``branch``, ``gencost`` arrays
        (``gen``/``gencost`` may be absent).

    Raises
    ------
    DataError
        If the file has no ``mpc.bus`` or ``mpc.branch`` matrix, or ragged rows.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DataError(f"MATPOWER file {path}: cannot be read ({exc})") from exc
    out: dict[str, np.ndarray | float] = {"baseMVA": 100.0}
    m = _SCALAR.search(text)
    if m:
        expr = m.group(2).strip()
        try:  # MATPOWER files may write it as arithmetic, e.g. "50/3"
            if not re.fullmatch(r"[-+*/().0-9eE\s]+", expr):
                raise ValueError(expr)
            out["baseMVA"] = float(eval(expr, {"__builtins__": {}}))  # noqa: S307 (digits only)
        except (ValueError, SyntaxError, ZeroDivisionError):
            raise DataError(f"MATPOWER file {path}: mpc.baseMVA = {m.group(2).strip()!r} is not "
                            "a number") from None
        if not np.isfinite(out["baseMVA"]) or out["baseMVA"] <= 0:
            raise DataError(f"MATPOWER file {path}: mpc.baseMVA must be a positive number "
                            f"(got {out['baseMVA']:g})")
    for name, body in _MATRIX.findall(text):
        if name in out:  # the first definition is the data; later ones are code
            continue
        lines = [re.sub(r"%.*", "", ln) for ln in body.splitlines()]
        rows = [r.split() for r in " \n".join(lines).replace(";", "\n").splitlines()]
        rows = [r for r in rows if r]
        if not rows:
            continue
        widths = {len(r) for r in rows}
        if name != "gencost" and len(widths) > 1:
            raise DataError(f"MATPOWER file {path}: mpc.{name} has rows of different lengths "
                            f"{sorted(widths)}")
        width = max(widths)
        arr = np.full((len(rows), width), np.nan)
        for i, r in enumerate(rows):  # parsing text, not model building
            try:
                arr[i, : len(r)] = [float(v) for v in r]
            except ValueError:
                bad = next(v for v in r if not _is_number(v))
                raise DataError(f"MATPOWER file {path}: mpc.{name} row {i + 1}: {bad!r} is not "
                                "a number") from None
        out[name] = arr
    for need in ("bus", "branch"):
        if need not in out:
            raise DataError(f"MATPOWER file {path}: no mpc.{need} matrix found")
    _check_mpc(path, out)
    return out


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _check_mpc(path: Path, mpc: dict) -> None:
    """Values MATPOWER's own loaders would reject or that flexnet cannot use, by row."""
    def fail(name: str, rows: np.ndarray, col: str, what: str) -> None:
        i = int(np.flatnonzero(rows)[0])
        raise DataError(f"MATPOWER file {path}: mpc.{name} row {i + 1}: column {col} {what} "
                        f"({int(rows.sum())} rows)")

    for name, cols in _REQUIRED.items():
        arr = mpc.get(name)
        if arr is None:
            continue
        if arr.shape[1] <= max(cols.values()):
            raise DataError(f"MATPOWER file {path}: mpc.{name} has {arr.shape[1]} columns, "
                            f"fewer than MATPOWER's {max(cols.values()) + 1}")
        for col, j in cols.items():  # Inf is MATPOWER's "unlimited"; the validator judges it
            bad = np.isnan(arr[:, j])
            if bad.any():
                fail(name, bad, col, "is NaN")
    bus_ids = mpc["bus"][:, BUS_I]
    br = mpc["branch"]
    for col, j in (("F_BUS", F_BUS), ("T_BUS", T_BUS)):
        unknown = ~np.isin(br[:, j], bus_ids)
        if unknown.any():
            fail("branch", unknown, col, f"names bus {br[unknown, j][0]:g}, which is not in mpc.bus")
    if (br[:, RATE_A] < 0).any():
        fail("branch", br[:, RATE_A] < 0, "RATE_A", "is negative")
    live = br[:, BR_STATUS] > 0
    if (live & (br[:, BR_X] == 0) & (br[:, BR_R] == 0)).any():
        fail("branch", live & (br[:, BR_X] == 0) & (br[:, BR_R] == 0), "BR_X",
             "and BR_R are both 0 (a zero-impedance branch has no DC model)")
    gen = mpc.get("gen")
    if gen is not None:
        unknown = ~np.isin(gen[:, GEN_BUS], bus_ids)
        if unknown.any():
            fail("gen", unknown, "GEN_BUS", f"names bus {gen[unknown, GEN_BUS][0]:g}, which is "
                                            "not in mpc.bus")
        neg = (gen[:, GEN_STATUS] > 0) & (gen[:, PMAX] < 0)
        if neg.any():
            fail("gen", neg, "PMAX", "is negative (dispatchable loads are not supported)")
    gc = mpc.get("gencost")
    if gc is not None and gc.size:
        model, n = gc[:, 0], gc[:, 3]
        width = np.sum(np.isfinite(gc), axis=1)  # ragged rows are NaN-padded
        bad_model = ~np.isin(model, (1, 2))
        if bad_model.any():
            fail("gencost", bad_model, "MODEL", "must be 1 (piecewise linear) or 2 (polynomial)")
        need = np.where(model == 1, 4 + 2 * n, 4 + n)
        bad_n = (n < 1) | (n != np.round(n)) | (need > width)
        if bad_n.any():
            fail("gencost", bad_n, "NCOST", "does not match the row (NCOST must be a positive "
                 "integer and the row must hold that many coefficients or points)")


def _linear_cost(mpc: dict, gen_rows: np.ndarray) -> np.ndarray:
    """Linear $/MWh cost per generator from ``gencost`` (polynomial or piecewise linear).

    A quadratic c2·p² + c1·p is replaced by its secant slope over [0, P̄]: c1 + c2·P̄.
    A piecewise-linear curve is replaced by its average slope.
    """
    gen = mpc["gen"][gen_rows]
    if "gencost" not in mpc:
        return np.full(gen.shape[0], 20.0)
    gc = mpc["gencost"][gen_rows]
    pmax = gen[:, PMAX]
    cost = np.zeros(gc.shape[0])
    poly = gc[:, 0] == 2
    n = gc[:, 3].astype(int)
    # coefficients are stored highest order first from column 4
    for order in (2, 3):  # number of coefficients: 2 → linear, 3 → quadratic
        sel = poly & (n == order)
        if order == 2:
            cost[sel] = gc[sel, 4]
        else:
            cost[sel] = gc[sel, 5] + gc[sel, 4] * pmax[sel]
    sel = poly & (n > 3)
    if sel.any():
        cost[sel] = gc[sel, 4 + n[sel] - 2]  # linear coefficient, higher orders dropped
    pwl = gc[:, 0] == 1
    if pwl.any():
        k = n[pwl]
        p0, c0 = gc[pwl, 4], gc[pwl, 5]
        idx = 4 + 2 * (k - 1)
        p1 = gc[pwl][np.arange(k.size), idx]
        c1 = gc[pwl][np.arange(k.size), idx + 1]
        cost[pwl] = (c1 - c0) / np.maximum(p1 - p0, 1e-9)
    return np.maximum(cost, 0.0)


def ts_from_matpower(
    mpc: dict | str | Path,
    *,
    load_profile: np.ndarray | None = None,
    default_rating: float | None = None,
    reserve_cost_factor: tuple[float, float] = (0.25, 0.15),
) -> xr.Dataset:
    """Convert a MATPOWER case to the transmission part of a system dataset.

    Parameters
    ----------
    mpc : dict or path
        Output of :func:`read_matpower` or a path to a ``.m`` file.
    load_profile : array of shape (snapshot,), optional
        Per-unit multiplier of the bus demands ``PD``; default one hour at 1.0.
    default_rating : float, optional
        MW rating for branches whose ``RATE_A`` is 0 (MATPOWER's "unlimited").
        Without it such branches raise :class:`DataError`.
    reserve_cost_factor : (float, float)
        Up- and down-reserve costs as fractions of the energy cost (MATPOWER has none).

    Returns
    -------
    xarray.Dataset
        Fields ``line_*``, ``gen_*``, ``load_*`` and coordinates ``bus``, ``line``,
        ``gen``, ``load``, ``snapshot``.
    """
    if not isinstance(mpc, dict):
        mpc = read_matpower(mpc)
    prof = np.ones(1) if load_profile is None else np.asarray(load_profile, dtype=float)
    bus = mpc["bus"]
    bus_ids = bus[:, BUS_I].astype(int).astype(str)
    br = mpc["branch"]
    off = int((br[:, BR_STATUS] <= 0).sum())
    br = br[br[:, BR_STATUS] > 0]
    shift = br[:, SHIFT] if br.shape[1] > SHIFT else np.zeros(br.shape[0])
    rating = br[:, RATE_A].copy()
    if (rating <= 0).any():
        if default_rating is None:
            i = int(np.argmax(rating <= 0))
            raise DataError(f"line {i + 1} ({int(br[i, F_BUS])}-{int(br[i, T_BUS])}): field "
                            "'RATE_A' is 0 (unlimited); pass default_rating=... to set one")
        rating[rating <= 0] = default_rating
    line_ids = np.array([f"L{i + 1}" for i in range(br.shape[0])], dtype=object)
    gen = mpc.get("gen", np.zeros((0, 21)))
    rows = np.flatnonzero((gen[:, GEN_STATUS] > 0) & (gen[:, PMAX] > 0))
    if off or rows.size < gen.shape[0]:
        log.info("MATPOWER import: %d out-of-service branches and %d generators out of service "
                 "or without capacity (PMAX = 0) dropped", off, gen.shape[0] - rows.size)
    g = gen[rows]
    cost = _linear_cost(mpc, rows)
    ramp = g[:, RAMP_30] * 2 if g.shape[1] > RAMP_30 else np.zeros(rows.size)
    ramp = np.where(ramp > 0, ramp, g[:, PMAX])  # no ramp data → not binding within an hour
    gen_ids = np.array([f"G{i + 1}" for i in range(rows.size)], dtype=object)
    has_load = bus[:, PD] > 0
    load_ids = np.array([f"D{b}" for b in bus_ids[has_load]], dtype=object)
    pd_ = bus[has_load, PD]
    # MATPOWER's DC model (makeBdc): b = 1 / (x · tap), tap 0 meaning a line (ratio 1); a
    # negative x (series compensation, transformer star equivalents) keeps its sign
    tap = br[:, TAP] if br.shape[1] > TAP else np.zeros(br.shape[0])
    x = br[:, BR_X] * np.where(tap == 0, 1.0, tap)
    x[x == 0] = 1e-4  # zero-reactance ties: a very small reactance keeps the DC model valid
    ds = xr.Dataset(
        {
            "line_bus0": ("line", br[:, F_BUS].astype(int).astype(str).astype(object)),
            "line_bus1": ("line", br[:, T_BUS].astype(int).astype(str).astype(object)),
            "line_x": ("line", x),
            "line_s_max": ("line", rating),
            "line_shift": ("line", shift.astype(float)),
            "gen_bus": ("gen", g[:, GEN_BUS].astype(int).astype(str).astype(object)),
            "gen_p_max": ("gen", g[:, PMAX]),
            "gen_p_min": ("gen", np.clip(g[:, PMIN], 0, g[:, PMAX])),
            "gen_ramp": ("gen", ramp),
            "gen_cost": ("gen", cost),
            "gen_cost_r_up": ("gen", reserve_cost_factor[0] * cost),
            "gen_cost_r_down": ("gen", reserve_cost_factor[1] * cost),
            "load_bus": ("load", bus_ids[has_load].astype(object)),
            "load_p": (("snapshot", "load"), prof[:, None] * pd_[None, :]),
        },
        coords={"snapshot": np.arange(prof.size), "bus": bus_ids.astype(object),
                "line": line_ids, "gen": gen_ids, "load": load_ids},
        attrs={"base_mva": float(mpc["baseMVA"])},
    )
    return ds


def feeder_from_matpower(
    mpc: dict | str | Path,
    dso: str,
    *,
    r_x_unit: str = "pu",
    load_unit: str = "MW",
    load_profile: np.ndarray | None = None,
    scale: float = 1.0,
    rating_factor: float = 1.5,
) -> xr.Dataset:
    """Convert a radial MATPOWER feeder into the distribution part of a system dataset.

    Out-of-service branches (tie switches) are dropped; the remaining branches are
    oriented away from the reference bus by a breadth-first search.

    Parameters
    ----------
    mpc : dict or path
        Output of :func:`read_matpower` or a path.
    dso : str
        DSO id; node and branch ids are prefixed with it (``"<dso>-n7"``).
    r_x_unit : {"pu", "ohm"}
        Unit of ``BR_R``/``BR_X`` in the file (``case33bw``/``case69`` store ohms).
    load_unit : {"MW", "kW"}
        Unit of ``PD``/``QD`` in the file.
    load_profile : array, optional
        Per-unit demand multiplier per snapshot; default one hour at 1.0.
    scale : float
        Represent ``scale`` identical feeders in parallel: loads × scale, impedances /
        scale, ratings × scale. Voltages are unchanged.
    rating_factor : float
        Branch rating = ``rating_factor`` × the peak apparent load downstream of it
        (MATPOWER feeders carry no ratings).

    Returns
    -------
    xarray.Dataset
        ``dso_*``, ``node_*`` and ``branch_*`` fields with coordinates.
    """
    if not isinstance(mpc, dict):
        mpc = read_matpower(mpc)
    bus = mpc["bus"]
    prof = np.ones(1) if load_profile is None else np.asarray(load_profile, dtype=float)
    n = bus.shape[0]
    pos = pd.Index(bus[:, BUS_I].astype(int))
    br = mpc["branch"][mpc["branch"][:, BR_STATUS] > 0]
    a, b = pos.get_indexer(br[:, F_BUS].astype(int)), pos.get_indexer(br[:, T_BUS].astype(int))
    roots = np.flatnonzero(bus[:, BUS_TYPE] == 3)
    if roots.size != 1:
        raise DataError(f"feeder {dso}: MATPOWER case has {roots.size} reference buses; "
                        "a radial feeder needs exactly one")
    root = int(roots[0])
    parent, child = orient_tree(n, a, b, root, dso)
    v_kv = float(bus[root, BASE_KV])
    zb = v_kv**2 / float(mpc["baseMVA"])
    k = 1.0 if r_x_unit == "ohm" else zb
    if r_x_unit not in ("ohm", "pu") or load_unit not in ("MW", "kW"):
        raise DataError(f"feeder {dso}: r_x_unit must be 'ohm' or 'pu' and load_unit 'MW' or "
                        f"'kW' (got {r_x_unit!r}, {load_unit!r})")
    lk = 1e-3 if load_unit == "kW" else 1.0
    p_peak = bus[:, PD] * lk * scale
    q_peak = bus[:, QD] * lk * scale

    down = downstream_sum(parent, child, np.hypot(p_peak, q_peak))
    node_ids = np.array([f"{dso}-n{int(i)}" for i in bus[:, BUS_I]], dtype=object)
    br_ids = np.array([f"{dso}-b{i + 1}" for i in range(br.shape[0])], dtype=object)
    vmin = float(np.nanmin(np.where(bus[:, VMIN] > 0, bus[:, VMIN], 0.95)))
    vmax = float(np.nanmax(np.where(bus[:, VMAX] > 0, bus[:, VMAX], 1.05)))
    return feeder_dataset(
        dso, node_ids, br_ids, root, parent, child,
        # zero-impedance switches get 1e-4 Ω so every branch has a positive impedance
        r=np.maximum(br[:, BR_R] * k, 1e-4) / scale, x=np.maximum(br[:, BR_X] * k, 1e-4) / scale,
        s_max=np.maximum(rating_factor * down[child], 0.05 * scale), trafo=1.3 * float(down[root]),
        p_peak=p_peak, q_peak=q_peak, profile=prof, v_kv=v_kv, v0=1.0,
        v_band=(max(vmin, 0.9), min(vmax, 1.1)))


def feeder_dataset(dso: str, node_ids: np.ndarray, branch_ids: np.ndarray, root: int,
                   parent: np.ndarray, child: np.ndarray, *, r: np.ndarray, x: np.ndarray,
                   s_max: np.ndarray, trafo: float, p_peak: np.ndarray, q_peak: np.ndarray,
                   profile: np.ndarray, v_kv: float, v0: float,
                   v_band: tuple[float, float]) -> xr.Dataset:
    """The ``dso_*``, ``node_*`` and ``branch_*`` fields of one radial feeder (importers)."""
    n = node_ids.size
    # p_peak/q_peak: per node (× profile) or already per snapshot × node
    p_t = p_peak if p_peak.ndim == 2 else profile[:, None] * p_peak[None, :]
    q_t = q_peak if q_peak.ndim == 2 else profile[:, None] * q_peak[None, :]
    return xr.Dataset(
        {
            "dso_bus": ("dso", np.array([""], dtype=object)),
            "dso_root": ("dso", np.array([node_ids[root]], dtype=object)),
            "dso_s_max": ("dso", [trafo]),
            "dso_v_nom": ("dso", [v_kv]),
            "dso_v0": ("dso", [v0]),
            "dso_v_min": ("dso", [v_band[0]]),
            "dso_v_max": ("dso", [v_band[1]]),
            "node_dso": ("node", np.full(n, dso, dtype=object)),
            "node_p_load": (("snapshot", "node"), p_t),
            "node_q_load": (("snapshot", "node"), q_t),
            "branch_dso": ("branch", np.full(branch_ids.size, dso, dtype=object)),
            "branch_node0": ("branch", node_ids[parent]),
            "branch_node1": ("branch", node_ids[child]),
            "branch_r": ("branch", r),
            "branch_x": ("branch", x),
            "branch_s_max": ("branch", s_max),
        },
        coords={"snapshot": np.arange(p_t.shape[0]), "dso": np.array([dso], dtype=object),
                "node": node_ids, "branch": branch_ids},
    )
