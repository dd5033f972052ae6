"""The ``flexnet`` command line: cases, run, compare, info, synth.

Exit codes: 0 a proven-optimal plan; 2 bad data; 3 infeasible or unbounded; 4 solver
error, or a plan that is not proven optimal (status and gap in the message); 5 a plan that
is not proven optimal, accepted with ``--allow-suboptimal``; 6 the plan sheds load under
``--shedding error``; 64 bad usage or options; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

import pandas as pd

from flexnet.errors import DataError, InfeasibleError, SolverError, UnboundedError
from flexnet.options import OptionError
from flexnet.quality import SheddingError

__all__ = ["main"]

EXIT_OK, EXIT_DATA, EXIT_INFEASIBLE, EXIT_SOLVER, EXIT_USAGE = 0, 2, 3, 4, 64
EXIT_SUBOPTIMAL, EXIT_SHEDDING, EXIT_INTERRUPTED = 5, 6, 130


def _positive(kind: type) -> Callable[[str], int | float]:
    """An argparse type: a number of ``kind`` > 0 (a clear usage error otherwise)."""
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number > 0")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must lie in [0, 1)")
    return value


def _probability(text: str) -> float:
    value = _fraction(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must lie in (0, 1)")
    return value


def _solver_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("solver")
    g.add_argument("--formulation", choices=["auto", "angle", "ptdf", "lazy"], default="auto",
                   help="TS DC network formulation (default auto: lazy line limits above "
                        "1,500 lines where the scheme supports them, else angle)")
    g.add_argument("--time-limit", type=_positive(float), help="HiGHS time limit in seconds")
    g.add_argument("--mip-gap", type=_fraction, help="relative MIP gap for MILP schemes")
    g.add_argument("--threads", type=_positive(int), help="HiGHS threads")
    g.add_argument("--solver-log", help="write the HiGHS log to this file")
    g.add_argument("--allow-suboptimal", action="store_true",
                   help="accept a plan that is not proven optimal (exit code 5, status first)")
    g.add_argument("--shedding", choices=["warn", "error", "ignore"], default="warn",
                   help="what load shedding does: warn (default), error (exit code 6), ignore")


def _options(a: argparse.Namespace) -> dict:
    return {"formulation": a.formulation, "time_limit": a.time_limit, "mip_gap": a.mip_gap,
            "threads": a.threads, "log_file": a.solver_log,
            "allow_suboptimal": a.allow_suboptimal, "shedding": a.shedding}


def _format(table: pd.DataFrame) -> str:
    """A summary table with numbers as 4 significant digits and text as it is."""
    return table.map(lambda v: f"{v:,.4g}" if isinstance(v, float) else str(v)).to_string()


def _check_out(path: str, overwrite: bool) -> None:
    """Refuse an output path that cannot be written, before any solve."""
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        raise DataError(f"--out {path}: is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise DataError(f"--out {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise DataError(f"--out {path}: directory {parent} is not writable")
    if p.exists() and not overwrite and not os.access(p, os.W_OK):
        raise DataError(f"--out {path}: file is not writable")


def _previous_status(path: str) -> str | None:
    """The status of a flexnet results file already at ``path`` (None if there is none)."""
    from pathlib import Path

    if not Path(path).is_file():
        return None
    try:
        import netCDF4

        with netCDF4.Dataset(path) as nc:
            return str(nc.getncattr("status")) if "status" in nc.ncattrs() else None
    except OSError:
        return None


def _date(text: str) -> str:
    try:
        return str(pd.Timestamp(text).date())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def _load(a: argparse.Namespace):
    import flexnet

    if getattr(a, "system", None):
        if getattr(a, "day", None):
            raise DataError("--day applies to a shipped case with a profile year, not --system")
        return flexnet.read_system(a.system)
    return flexnet.load_case(a.case, day=getattr(a, "day", None))


def _cmd_cases(a: argparse.Namespace) -> int:
    import flexnet
    from flexnet.grid.cases import DAY_CASES, case_descriptions

    rows = []
    for name, desc in case_descriptions().items():
        if name in DAY_CASES:  # built from an optional package for a chosen day: not loaded here
            rows.append({"case": name, "bus": "", "dso": "", "node": "", "assets": "",
                         "description": desc})
            continue
        s = flexnet.load_case(name)
        rows.append({"case": name, "bus": s.n("bus"), "dso": s.n("dso"), "node": s.n("node"),
                     "assets": sum(s.n(e) for e in ("building", "fleet", "storage", "der")),
                     "description": desc})
    print(pd.DataFrame(rows).set_index("case").to_string())
    return EXIT_OK


def _cmd_run(a: argparse.Namespace) -> int:
    import flexnet

    if a.out:
        _check_out(a.out, a.overwrite)
    system = _load(a)
    if not a.quiet:
        print(system)
    opts = _options(a)
    if a.interval and a.drcc is not None:
        raise OptionError("--interval and --drcc are two ways to secure the plan; pick one")
    if a.drcc is not None:
        from flexnet.quality import assess
        from flexnet.uncertainty import solve_drcc

        if a.scheme not in ("centralized", "hierarchical", "hierarchical-vpp"):
            raise OptionError(f"--drcc applies to the centralized and hierarchical schemes, "
                              f"not to {a.scheme}")
        terms = {k: opts.pop(k) for k in ("allow_suboptimal", "shedding")}
        dask = ({"workers": a.workers, "scheduler_address": a.scheduler_address}
                if a.scheme.startswith("hierarchical") else {})
        res = assess(solve_drcc(system, eps=a.drcc, method=a.drcc_method, scheme=a.scheme,
                                **opts, **dask), **terms)
    elif a.interval:
        from flexnet.quality import assess
        from flexnet.uncertainty import solve_interval

        terms = {k: opts.pop(k) for k in ("allow_suboptimal", "shedding")}
        res = assess(solve_interval(system, scheme=a.scheme, workers=a.workers,
                                    scheduler_address=a.scheduler_address,
                                    method=a.interval, **opts), **terms)
        if not a.quiet:
            print(f"interval: {res.dataset.attrs['uncovered_report']}")
            if a.interval == "oneshot":
                print(f"interval: security premium "
                      f"{res.dataset.attrs['security_premium']:,.2f} over the plain plan")
    else:
        extra: dict = {}
        dask = {"workers": a.workers, "scheduler_address": a.scheduler_address}
        if a.scheme.startswith("hierarchical"):
            extra = dask
        elif a.workers or a.scheduler_address:
            if a.scheme != "nested":
                raise OptionError(f"--workers and --scheduler-address apply to the hierarchical "
                                  f"and nested schemes and to --interval, not to {a.scheme}")
            extra = dask  # nested's hours on dask
        res = flexnet.solve(system, a.scheme, **opts, **extra)
    if a.ac_check:
        from flexnet.checks import ac_check

        ac = ac_check(res)
        res.dataset.update(ac)
        res.dataset.attrs.update(ac.attrs)
        if ac.attrs["ac_voltage_violations"] or ac.attrs["ac_branch_overloads"]:
            logging.getLogger("flexnet").warning(
                "AC check: the plan breaks %d voltage limits and %d ratings under an AC power "
                "flow that LinDistFlow kept (flexnet.checks.ac_secure tightens and re-solves)",
                ac.attrs["ac_voltage_violations"], ac.attrs["ac_branch_overloads"])
        if not a.quiet:
            print(f"AC check: max |V_lin - V_ac| {ac.attrs['ac_max_v_error']:.4f} p.u., "
                  f"{ac.attrs['ac_voltage_violations']} AC voltage violations, "
                  f"{ac.attrs['ac_branch_overloads']} AC overloads, losses "
                  f"{ac.attrs['ac_losses_mwh']:,.1f} MWh ({ac.attrs['ac_seconds']:.1f} s)")
    ok = res.dataset.attrs.get("status") == "optimal"
    print(_format(res.summary()))
    if a.out:
        before = _previous_status(a.out)
        if not ok and before == "optimal" and not a.overwrite:
            print(f"flexnet: {a.out} holds an optimal plan; not overwritten by this "
                  f"{res.dataset.attrs['status']} one (pass --overwrite)", file=sys.stderr)
        else:
            path = res.to_netcdf(a.out)
            if not a.quiet:
                print(f"results written to {path}")
    if a.plots:
        from flexnet.plot import save_figures

        files = save_figures(res, a.plots)
        if not a.quiet:
            print(f"{len(files)} figures written to {a.plots}/")
    return EXIT_OK if ok else EXIT_SUBOPTIMAL


def _cmd_compare(a: argparse.Namespace) -> int:
    import flexnet

    table = flexnet.compare(_load(a), a.schemes, **_options(a))
    print(_format(table))
    ok = "status" not in table.index or (table.loc["status"] == "optimal").all()
    if a.csv:
        table.to_csv(a.csv)
        print(f"table written to {a.csv}")
    if a.plot:
        from flexnet.plot import comparison_bars

        comparison_bars(table).savefig(a.plot, dpi=110, bbox_inches="tight")
        print(f"figure written to {a.plot}")
    return EXIT_OK if ok else EXIT_SUBOPTIMAL


def _cmd_study(a: argparse.Namespace) -> int:
    from flexnet.study import markdown, seeds_study

    table = seeds_study(a.case, out=a.out, quick=a.quick, progress=not a.quiet)
    print(markdown(table[[c for c in ("study", "variant", "run", "status", "total_cost",
                                      "uncovered_mwh", "dso_cost_priced", "seconds")
                          if c in table]]))
    print(f"table and figure written to {a.out}/seeds.csv, seeds.md and seeds.png")
    return EXIT_OK if (table.status == "optimal").all() else EXIT_SUBOPTIMAL


def _cmd_info(a: argparse.Namespace) -> int:
    from flexnet.grid.system import open_flexnet_dataset

    ds = open_flexnet_dataset(a.file)
    kind = ds.attrs.get("flexnet_kind", "not a flexnet file")
    print(f"{a.file}: {kind}")
    for k in ("name", "case", "scheme", "status", "objective", "flexnet_version", "created"):
        if k in ds.attrs:
            print(f"  {k}: {ds.attrs[k]}")
    print("  dims: " + ", ".join(f"{d}={n}" for d, n in ds.sizes.items()))
    for v in ds.data_vars:
        print(f"  {v} {tuple(ds[v].dims)} [{ds[v].attrs.get('units', '')}]")
    return EXIT_OK


def _cmd_synth(a: argparse.Namespace) -> int:
    import flexnet

    s = flexnet.synthetic_system(a.buses, a.feeders, a.nodes, a.snapshots, a.seed,
                                 ts=a.matpower)
    print(s)
    print(f"system written to {s.to_netcdf(a.out)}")
    return EXIT_OK


def _version_text(version: str) -> str:
    """flexnet's version and the solver stack it runs on (what a bug report needs)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as v

    parts = []
    for pkg in ("highspy", "linopy", "xarray", "numpy"):
        try:
            parts.append(f"{pkg} {v(pkg)}")
        except PackageNotFoundError:  # pragma: no cover
            parts.append(f"{pkg} missing")
    return f"flexnet {version} ({', '.join(parts)})"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for docs and tests)."""
    from flexnet.coordination import SCHEMES
    from flexnet.grid.cases import DEFAULT_CASE, STRESSED_CASE

    p = argparse.ArgumentParser(prog="flexnet", description="TSO–DSO coordination: schedule "
                                "a transmission grid and its distribution feeders for a day.")
    from flexnet import __version__

    p.add_argument("--version", action="version", version=_version_text(__version__))
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("cases", help="list the shipped cases with their sizes",
                   description="List the shipped cases with their sizes.")
    r = sub.add_parser("run", help="solve one scheme and write results",
                       description="Solve a case (or --system FILE.nc) under one scheme, print "
                                   "the summary table and write the results netCDF.")
    r.add_argument("case", nargs="?", default=DEFAULT_CASE, help=f"case (default {DEFAULT_CASE})")
    r.add_argument("--system", help="a system netCDF file instead of a shipped case")
    r.add_argument("--day", type=_date, help="day of a case with a profile year "
                                             "(simbench: any day of 2016, default 2016-01-15)")
    r.add_argument("--scheme", default="centralized", choices=list(SCHEMES),
                   help="coordination scheme (default centralized; nested is a MILP that can "
                        "take minutes, see docs/nested.md)")
    r.add_argument("--out", default="results.nc", help="results file (default results.nc)")
    r.add_argument("--overwrite", action="store_true",
                   help="replace an optimal results file with a plan that is not optimal")
    r.add_argument("--plots", metavar="DIR", help="also write the figures (PNG) to DIR")
    r.add_argument("--ac-check", action="store_true",
                   help="run pandapower's AC power flow on every feeder at every hour of the "
                        "plan and store the comparison in the results (needs pandapower)")
    r.add_argument("--interval", nargs="?", const="repair", choices=["repair", "oneshot"],
                   help="secure the plan against the interval extremes: 'repair' (the default "
                        "when no value is given) re-plans with BESS headroom; 'oneshot' solves "
                        "stage 1 with every extreme's recourse as one LP (docs/nested.md)")
    r.add_argument("--drcc", type=_probability, metavar="EPS",
                   help="secure the plan with DRCC margins at violation probability EPS "
                        "(centralized and hierarchical; docs/drcc.md)")
    r.add_argument("--drcc-method", default="cantelli", choices=["gaussian", "cantelli",
                                                                 "wasserstein"],
                   help="DRCC margin (default cantelli)")
    g = r.add_argument_group("dask (interval scenarios, ADMM subproblems)")
    g.add_argument("--workers", type=_positive(int), help="LocalCluster worker processes (default: cores)")
    g.add_argument("--scheduler-address", help="use an existing dask scheduler")
    _solver_args(r)
    c = sub.add_parser("compare", help="solve several schemes side by side",
                       description="Solve several schemes on one case and print one table.")
    c.add_argument("case", nargs="?", default=DEFAULT_CASE)
    c.add_argument("--system", help="a system netCDF file instead of a shipped case")
    c.add_argument("--day", type=_date, help="day of a case with a profile year (simbench)")
    c.add_argument("--schemes", nargs="+", default=["sequential", "centralized"],
                   choices=list(SCHEMES), metavar="SCHEME",
                   help=f"schemes to compare (from {', '.join(SCHEMES)}; default: sequential "
                        "centralized)")
    c.add_argument("--csv", help="also write the table as CSV")
    c.add_argument("--plot", metavar="PNG", help="also write the comparison bars")
    _solver_args(c)
    i = sub.add_parser("info", help="describe a system or results netCDF file",
                       description="Tell what a flexnet netCDF file holds.")
    i.add_argument("file")
    s = sub.add_parser("synth", help="write a synthetic system",
                       description="Generate a synthetic TS + feeders system and write it.")
    s.add_argument("--buses", type=_positive(int), default=200, help="TS buses (default 200)")
    s.add_argument("--feeders", type=_positive(int), default=20, help="feeders (default 20)")
    s.add_argument("--nodes", type=_positive(int), default=33, help="nodes per feeder (default 33)")
    s.add_argument("--snapshots", type=_positive(int), default=24)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--matpower", help="start from this MATPOWER TS case instead of a random one")
    s.add_argument("--out", required=True, help="output netCDF file")
    st = sub.add_parser("study", help="run a study: both seed papers' comparisons",
                        description="Run both seed papers' comparisons on one case and "
                                    "write one table and a figure (docs/studies.md).")
    st.add_argument("name", choices=["seeds"])
    st.add_argument("--case", default=STRESSED_CASE,
                    help=f"shipped case (default {STRESSED_CASE}, the stressed default case)")
    st.add_argument("--out", default="study", help="output directory (default study)")
    st.add_argument("--quick", action="store_true",
                    help="two DSOs and six hours: a smoke run of every comparison")
    return p


_COMMANDS = {"cases": _cmd_cases, "run": _cmd_run, "compare": _cmd_compare, "info": _cmd_info,
             "synth": _cmd_synth, "study": _cmd_study}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``flexnet`` command; returns the exit code."""
    a = build_parser().parse_args(argv)
    # bars on a terminal, a line every few seconds into a file or pipe, nothing with -q
    os.environ["FLEXNET_PROGRESS"] = ("0" if a.quiet else "bar" if sys.stderr.isatty()
                                      else "lines")
    level = logging.ERROR if a.quiet else logging.INFO if a.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # distributed sets its loggers to INFO when it is imported (later, and in every worker):
    # its config read from the environment keeps them at WARNING unless -v
    if not a.verbose:
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    for noisy in ("linopy", "distributed", "dask"):
        logging.getLogger(noisy).setLevel(level if a.verbose else max(level, logging.WARNING))
    try:
        return _COMMANDS[a.command](a)
    except BrokenPipeError:  # e.g. `flexnet run | head`: the reader left, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (DataError, FileNotFoundError) as exc:
        if a.debug:
            raise
        print(f"flexnet: data error: {exc}", file=sys.stderr)
        return EXIT_DATA
    except (InfeasibleError, UnboundedError) as exc:
        if a.debug:
            raise
        print(f"flexnet: {exc}".replace("\n", " "), file=sys.stderr)
        return EXIT_INFEASIBLE
    except SolverError as exc:
        if a.debug:
            raise
        print(f"flexnet: solver error: {exc}".replace("\n", " "), file=sys.stderr)
        return EXIT_SOLVER
    except SheddingError as exc:
        if a.debug:
            raise
        print(f"flexnet: {exc}", file=sys.stderr)
        return EXIT_SHEDDING
    except OptionError as exc:
        if a.debug:
            raise
        print(f"flexnet: option error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("flexnet: interrupted; no results written", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
