"""The system data schema: every field with its dims, units, rule and meaning.

This table is the single source of truth: validation, defaults, the netCDF units and
the docs page ``docs/schema.md`` are all generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ATTR_RANGES", "CEILING", "ELEMENTS", "FIELDS", "GLOBAL_ATTRS", "RANGES", "TEXT_ATTRS",
           "Field", "fields_of", "schema_markdown"]

#: element sets, each a flat dimension of the same name (ids are strings)
ELEMENTS: dict[str, str] = {
    "bus": "transmission bus",
    "line": "transmission line (DC model)",
    "gen": "dispatchable transmission generator",
    "wind": "wind farm on a transmission bus",
    "load": "inflexible transmission load",
    "dso": "distribution system (one radial feeder) below a PCC bus",
    "node": "distribution node (all feeders flattened, owner in `node_dso`)",
    "branch": "distribution branch, oriented parent → child",
    "building": "smart building on a distribution node",
    "fleet": "EV fleet (parking/charging hub) on a distribution node",
    "storage": "battery energy storage system (BESS) on a distribution node",
    "der": "distributed generator (PV or dispatchable DG) on a distribution node",
}


@dataclass(frozen=True)
class Field:
    """One data field of a :class:`~flexnet.System`.

    ``rule`` is one of ``pos`` (> 0), ``nonneg`` (>= 0), ``any`` (finite), ``frac``
    (in [0, 1]), ``ref:<element>`` (an id of that element) or ``str``/``bool``.
    ``default`` is used when an optional field is missing; ``"=<field>"`` copies another
    field (interval bounds default to the forecast, i.e. no uncertainty).
    """

    name: str
    dims: tuple[str, ...]
    units: str
    rule: str
    description: str
    default: float | str | bool | None = None

    @property
    def required(self) -> bool:
        """Whether a system that has the field's element set must carry it."""
        return self.default is None

    @property
    def element(self) -> str | None:
        """The element set this field is indexed by (its non-time dim), if any."""
        for d in self.dims:
            if d in ELEMENTS:
                return d
        return None


_S = ("snapshot",)


def _f(name, dims, units, rule, description, default=None):
    return Field(name, tuple(dims), units, rule, description, default)


FIELDS: list[Field] = [
    # --- transmission system -------------------------------------------------------
    _f("line_bus0", ["line"], "", "ref:bus", "from bus"),
    _f("line_bus1", ["line"], "", "ref:bus", "to bus"),
    _f("line_x", ["line"], "p.u. (system base_mva)", "any",
       "series reactance of the DC model (x·tap for a transformer, as MATPOWER's makeBdc; "
       "negative for series compensation)"),
    _f("line_s_max", ["line"], "MW", "pos", "thermal limit of the DC flow"),
    _f("line_shift", ["line"], "°", "any",
       "phase shift φ of a phase-shifting transformer: f = b (θ_from − θ_to − φ), as "
       "MATPOWER's makeBdc", 0.0),
    _f("gen_bus", ["gen"], "", "ref:bus", "connection bus"),
    _f("gen_p_max", ["gen"], "MW", "pos", "maximum output P̄"),
    _f("gen_p_min", ["gen"], "MW", "nonneg", "minimum output P̲ (must-run, no unit commitment)"),
    _f("gen_ramp", ["gen"], "MW/h", "pos", "ramp limit up and down between hours"),
    _f("gen_cost", ["gen"], "$/MWh", "nonneg", "linear energy cost"),
    _f("gen_cost_r_up", ["gen"], "$/MW/h", "nonneg", "up-reserve capacity cost"),
    _f("gen_cost_r_down", ["gen"], "$/MW/h", "nonneg", "down-reserve capacity cost"),
    _f("wind_bus", ["wind"], "", "ref:bus", "connection bus"),
    _f("wind_p", ["snapshot", "wind"], "MW", "nonneg", "available power (forecast)"),
    _f("wind_p_lower", ["snapshot", "wind"], "MW", "nonneg", "interval lower bound", "=wind_p"),
    _f("wind_p_upper", ["snapshot", "wind"], "MW", "nonneg", "interval upper bound", "=wind_p"),
    _f("load_bus", ["load"], "", "ref:bus", "connection bus"),
    _f("load_p", ["snapshot", "load"], "MW", "nonneg", "demand (forecast)"),
    _f("load_p_lower", ["snapshot", "load"], "MW", "nonneg", "interval lower bound", "=load_p"),
    _f("load_p_upper", ["snapshot", "load"], "MW", "nonneg", "interval upper bound", "=load_p"),
    # --- distribution systems --------------------------------------------------------
    _f("dso_bus", ["dso"], "", "ref:bus", "PCC bus on the transmission system ('' if no TS)"),
    _f("dso_root", ["dso"], "", "ref:node", "substation (root) node of the feeder"),
    _f("dso_s_max", ["dso"], "MVA", "pos", "PCC transformer limit"),
    _f("dso_v_nom", ["dso"], "kV", "pos", "nominal voltage of the feeder"),
    _f("dso_v0", ["dso"], "p.u.", "pos", "substation voltage set-point"),
    _f("dso_v_min", ["dso"], "p.u.", "pos", "lower voltage limit"),
    _f("dso_v_max", ["dso"], "p.u.", "pos", "upper voltage limit"),
    _f("node_dso", ["node"], "", "ref:dso", "owning distribution system"),
    _f("node_p_load", ["snapshot", "node"], "MW", "nonneg", "inflexible active demand (forecast)"),
    _f("node_q_load", ["snapshot", "node"], "Mvar", "any", "inflexible reactive demand"),
    _f("node_p_load_lower", ["snapshot", "node"], "MW", "nonneg", "interval lower bound", "=node_p_load"),
    _f("node_p_load_upper", ["snapshot", "node"], "MW", "nonneg", "interval upper bound", "=node_p_load"),
    _f("branch_dso", ["branch"], "", "ref:dso", "owning distribution system"),
    _f("branch_node0", ["branch"], "", "ref:node", "parent node (towards the root)"),
    _f("branch_node1", ["branch"], "", "ref:node", "child node"),
    _f("branch_r", ["branch"], "Ω", "pos", "series resistance"),
    _f("branch_x", ["branch"], "Ω", "pos", "series reactance"),
    _f("branch_s_max", ["branch"], "MVA", "pos", "apparent-power limit"),
    # --- smart buildings -------------------------------------------------------------
    _f("building_node", ["building"], "", "ref:node", "connection node"),
    _f("building_r", ["building"], "K/MW", "pos", "thermal resistance R of the 1R1C model"),
    _f("building_c", ["building"], "MWh/K", "pos", "thermal capacitance C of the 1R1C model"),
    _f("building_eta", ["building"], "", "pos", "heat-pump coefficient of performance"),
    _f("building_hvac_max", ["building"], "MW", "pos", "electric heat-pump rating"),
    _f("building_t_min", ["building"], "°C", "any", "comfort band lower edge"),
    _f("building_t_max", ["building"], "°C", "any", "comfort band upper edge"),
    _f("building_t_init", ["building"], "°C", "any", "indoor temperature before hour 0"),
    _f("building_p_base", ["snapshot", "building"], "MW", "nonneg", "inflexible appliance load"),
    _f("building_shift_energy", ["building"], "MWh", "nonneg", "daily energy of shiftable load"),
    _f("building_shift_max", ["building"], "MW", "nonneg", "shiftable load power limit"),
    _f("building_pv", ["snapshot", "building"], "MW", "nonneg", "rooftop PV available power"),
    _f("building_batt_e", ["building"], "MWh", "nonneg", "behind-the-meter battery energy"),
    _f("building_batt_p", ["building"], "MW", "nonneg", "behind-the-meter battery power"),
    _f("building_dr_max", ["building"], "MW", "nonneg", "max demand-response reduction"),
    _f("building_p_baseline", ["snapshot", "building"], "MW", "any",
       "customer baseline load for the DRP (reductions are paid against it)"),
    _f("building_cost_flex", ["building"], "$/MW/h", "nonneg", "reserve offer cost", 2.0),
    # --- EV fleets ---------------------------------------------------------------------
    _f("fleet_node", ["fleet"], "", "ref:node", "connection node"),
    _f("fleet_count", ["fleet"], "EVs", "pos", "number of EVs using the hub"),
    _f("fleet_p_charger", ["fleet"], "MW", "pos", "charger power per connected EV"),
    _f("fleet_e_ev", ["fleet"], "MWh", "pos", "battery capacity per EV"),
    _f("fleet_eta", ["fleet"], "", "frac", "charge and discharge efficiency"),
    _f("fleet_v2g", ["fleet"], "", "bool", "vehicle-to-grid allowed"),
    _f("fleet_e_init", ["fleet"], "MWh", "nonneg", "energy of connected EVs before hour 0"),
    _f("fleet_connected", ["snapshot", "fleet"], "EVs", "nonneg", "EVs connected during the hour"),
    _f("fleet_e_arrive", ["snapshot", "fleet"], "MWh", "nonneg", "energy brought by arriving EVs"),
    _f("fleet_e_depart", ["snapshot", "fleet"], "MWh", "nonneg",
       "energy departing EVs must carry away (the departure energy need)"),
    _f("fleet_cost_flex", ["fleet"], "$/MW/h", "nonneg", "reserve offer cost", 3.0),
    # --- BESS --------------------------------------------------------------------------
    _f("storage_node", ["storage"], "", "ref:node", "connection node"),
    _f("storage_p_max", ["storage"], "MW", "pos", "charge/discharge power limit"),
    _f("storage_e_max", ["storage"], "MWh", "pos", "energy capacity"),
    _f("storage_eta_c", ["storage"], "", "frac", "charge efficiency"),
    _f("storage_eta_d", ["storage"], "", "frac", "discharge efficiency"),
    _f("storage_soc_min", ["storage"], "", "frac", "minimum state of charge (fraction)"),
    _f("storage_soc_max", ["storage"], "", "frac", "maximum state of charge (fraction)"),
    _f("storage_soc_init", ["storage"], "", "frac", "state of charge before hour 0 (fraction)"),
    _f("storage_cyclic", ["storage"], "", "bool", "end state equals the initial state"),
    _f("storage_cost", ["storage"], "$/MWh", "nonneg", "degradation cost per MWh discharged", 2.0),
    _f("storage_cost_flex", ["storage"], "$/MW/h", "nonneg", "reserve offer cost", 1.0),
    # --- DER ---------------------------------------------------------------------------
    _f("der_node", ["der"], "", "ref:node", "connection node"),
    _f("der_kind", ["der"], "", "str", "'pv' (curtailable) or 'dg' (dispatchable)"),
    _f("der_p_max", ["der"], "MW", "pos", "rating"),
    _f("der_p", ["snapshot", "der"], "MW", "nonneg", "available power (forecast)"),
    _f("der_p_lower", ["snapshot", "der"], "MW", "nonneg", "interval lower bound", "=der_p"),
    _f("der_p_upper", ["snapshot", "der"], "MW", "nonneg", "interval upper bound", "=der_p"),
    _f("der_cost", ["der"], "$/MWh", "nonneg", "energy cost"),
    _f("der_cost_flex", ["der"], "$/MW/h", "nonneg", "reserve offer cost", 2.0),
    # --- time series and markets -------------------------------------------------------
    _f("t_out", _S, "°C", "any", "outdoor temperature", 5.0),
    _f("fr_up", _S, "MW", "nonneg", "TSO up-flexibility requirement FR↑", 0.0),
    _f("fr_down", _S, "MW", "nonneg", "TSO down-flexibility requirement FR↓", 0.0),
    _f("retail_price", _S, "$/MWh", "nonneg", "retail energy price seen by smart buildings", 80.0),
    _f("pcc_price", _S, "$/MWh", "nonneg", "PCC energy price for feeder-only cases", 50.0),
    _f("forecast_error", ["sample", "snapshot", "area"], "MW", "any",
       "historical forecast-error samples (actual − forecast net load) per area; "
       "area 'ts' is the TS, the other areas are DSO ids"),
]

#: scalar attributes of the system with their defaults
GLOBAL_ATTRS: dict[str, tuple[float | str, str, str]] = {
    "name": ("unnamed", "", "case name"),
    "base_mva": (100.0, "MVA", "system base for line reactances"),
    "voll": (3000.0, "$/MWh", "value of lost load (shedding price, TS and DS)"),
    "drp_reward_min": (5.0, "$/MWh", "lowest DRP reward ρ_min"),
    "drp_reward_max": (60.0, "$/MWh", "highest DRP reward ρ_max"),
    "balancing_premium": (0.3, "", "sequential scheme: premium on PCC deviations over the LMP"),
}

#: largest magnitude of any numeric field or attribute without its own range below
#: (MW, MWh, Mvar, MVA, $/MWh, EVs, ...): 1e6 is beyond every real element and keeps the
#: LP's coefficients within what a double-precision simplex resolves
CEILING = 1e6

#: physical ranges: field → (low, high, low_open, what); checked after the field's rule
RANGES: dict[str, tuple[float, float, bool, str]] = {
    "line_x": (1e-6, 1e3, False, "a reactance with |x| in [1e-6, 1e3] p.u."),
    "line_shift": (-90.0, 90.0, False, "a phase shift in [-90, 90] °"),
    "branch_r": (1e-6, 1e4, False, "a resistance in [1e-6, 1e4] Ω"),
    "branch_x": (1e-6, 1e4, False, "a reactance in [1e-6, 1e4] Ω"),
    "fleet_eta": (0.0, 1.0, True, "an efficiency in (0, 1]"),
    "storage_eta_c": (0.0, 1.0, True, "an efficiency in (0, 1]"),
    "storage_eta_d": (0.0, 1.0, True, "an efficiency in (0, 1]"),
    "building_eta": (0.1, 10.0, False, "a heat-pump COP in [0.1, 10]"),
    "dso_v0": (0.5, 1.5, False, "a voltage in [0.5, 1.5] p.u."),
    "dso_v_min": (0.5, 1.5, False, "a voltage in [0.5, 1.5] p.u."),
    "dso_v_max": (0.5, 1.5, False, "a voltage in [0.5, 1.5] p.u."),
    "dso_v_nom": (0.1, 500.0, False, "a nominal voltage in [0.1, 500] kV"),
    **dict.fromkeys(("building_t_min", "building_t_max", "building_t_init", "t_out"),
                     (-60.0, 60.0, False, "a temperature in [-60, 60] °C")),
}

#: ranges of the scalar attributes: attr → (low, high, low_open)
ATTR_RANGES: dict[str, tuple[float, float, bool]] = {
    "base_mva": (0.0, CEILING, True), "voll": (0.0, CEILING, True),
    "drp_reward_min": (0.0, CEILING, False), "drp_reward_max": (0.0, CEILING, False),
    "balancing_premium": (0.0, 10.0, False),
}

#: attributes a system may carry besides :data:`GLOBAL_ATTRS` (free text, CF metadata)
TEXT_ATTRS = ("description", "source", "title", "history", "comment", "references",
              "institution", "Conventions", "created", "flexnet_version",
              # the day a case with a profile year was built for (simbench)
              "day")

_BY_NAME = {f.name: f for f in FIELDS}


def fields_of(element: str) -> list[Field]:
    """Return the fields indexed by ``element`` (e.g. ``"gen"``)."""
    return [f for f in FIELDS if f.element == element]


def field(name: str) -> Field:
    """Return the schema entry of ``name``; raise ``KeyError`` if unknown."""
    return _BY_NAME[name]


def schema_markdown() -> str:
    """Render the schema as Markdown tables (used for ``docs/schema.md``)."""
    out = ["# System data schema", "",
           "Generated from `flexnet/grid/schema.py` by `make docs`. "
           "Each element set is a flat dimension of string ids; fields are named "
           "`<element>_<attr>`. A default means the field is optional.", ""]
    out += ["## Element sets", "", "| dim | element |", "|---|---|"]
    out += [f"| `{k}` | {v} |" for k, v in ELEMENTS.items()]
    out += ["", "## Fields", "",
            f"Every numeric field is finite, real and at most {CEILING:g} in magnitude unless "
            "its range says otherwise.", "",
            "| field | dims | units | rule | range | default | meaning |",
            "|---|---|---|---|---|---|---|"]
    for f in FIELDS:
        d = "" if f.default is None else f"{f.default}"
        r = RANGES[f.name][3] if f.name in RANGES else ""
        out.append(f"| `{f.name}` | {', '.join(f.dims)} | {f.units} | {f.rule} | {r} | {d} | "
                   f"{f.description} |")
    out += ["", "## Scalar attributes", "",
            "Other attributes are errors, except free text: " + ", ".join(TEXT_ATTRS) + ".", "",
            "| attr | default | units | range | meaning |", "|---|---|---|---|---|"]
    for k, v in GLOBAL_ATTRS.items():
        lo, hi, open_ = ATTR_RANGES.get(k, (None, None, False))
        r = "" if lo is None else f"{'(' if open_ else '['}{lo:g}, {hi:g}]"
        out.append(f"| `{k}` | {v[0]} | {v[1]} | {r} | {v[2]} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(schema_markdown(), end="")
