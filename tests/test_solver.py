"""flexnet.solver: persistent re-solves and the split-by-snapshot LP against whole solves."""

from __future__ import annotations

import functools

import linopy
import numpy as np
import pytest
from conftest import case, lagrangian_gap

import flexnet
from flexnet.coordination.hierarchical import build_tso
from flexnet.solver import ComponentLP, PersistentLP, SnapshotSplitLP


@functools.cache
def _synthetic() -> flexnet.System:
    """A small system whose TSO market has binding ramps (ramp rates cut to 30 %)."""
    ds = flexnet.synthetic_system(30, 5, nodes_per_feeder=8, snapshots=6, seed=3).ds.copy()
    ds["gen_ramp"] = 0.3 * ds.gen_ramp
    return flexnet.System(ds)


def _pair(system: flexnet.System) -> tuple[SnapshotSplitLP, PersistentLP]:
    return SnapshotSplitLP(build_tso(system)), PersistentLP(build_tso(system))


def _lmp(lp: PersistentLP) -> np.ndarray:
    lp.assign()
    return lp.model.constraints["Bus-balance"].dual.values


def test_split_equals_whole_when_no_ramp_binds():
    split, whole = _pair(case(flexnet.DEFAULT_CASE))
    assert split.stats["blocks"] == 24
    assert split.run() == whole.run() == "optimal"
    assert (split.split_runs, split.whole_runs) == (1, 0)
    assert split.base_objective() == pytest.approx(whole.base_objective(), rel=1e-9)
    # the block duals (zero on the ramp rows) are optimal duals of the whole LP (LMPs are
    # not unique, so this is checked by the Lagrangian, not against the whole LP's vertex)
    f = whole.h.getInfo().objective_function_value
    assert lagrangian_gap(whole, split._solution()[1], f) < 1e-9
    assert lagrangian_gap(whole, whole._solution()[1], f) < 1e-9
    split.assign()
    gen = split.model.variables["Gen-p"].solution
    assert np.isfinite(gen.values).all()


def test_split_falls_back_to_the_whole_lp_when_a_ramp_binds():
    split, whole = _pair(_synthetic())
    assert split.run() == whole.run() == "optimal"
    assert (split.split_runs, split.whole_runs) == (0, 1)
    assert split.base_objective() == pytest.approx(whole.base_objective(), rel=1e-9)
    # and the solution honours the ramps the blocks had violated
    p = split.values()[split.cols("Gen-p")].reshape(6, -1)
    ramp = _synthetic().ds.gen_ramp.values
    assert (np.abs(np.diff(p, axis=0)) <= ramp + 1e-6).all()


def _admm_change(split: PersistentLP, whole: PersistentLP, rng: np.random.Generator,
                 smax: np.ndarray, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """An ADMM step's change (PCC prices, consensus targets) to both LPs; both solved to
    the same objective. Returns the split LP's solution and the targets."""
    cols, rows = split.cols("Pcc-p"), split.rows("Admm-target-Pcc-p")
    price = split.cost[cols] + rng.normal(0, 20, cols.size)
    target = rng.uniform(-spread, spread, rows.size) * smax
    for lp in (split, whole):
        lp.set_cost(cols, price)
        lp.set_rhs(rows, target)
        assert lp.run() == "optimal"
    cur = split.cost.copy()
    cur[cols] = price
    x_s = split.values()
    assert cur @ x_s == pytest.approx(cur @ whole.values(), rel=1e-9)
    return x_s, target


@pytest.mark.parametrize("system", [case(flexnet.DEFAULT_CASE), _synthetic()],
                         ids=["no-ramp-binds", "ramps-bind"])
def test_split_follows_cost_and_rhs_changes(system):
    split, whole = _pair(system)
    rng = np.random.default_rng(7)
    cols, rows = split.cols("Pcc-p"), split.rows("Admm-target-Pcc-p")
    smax = np.repeat(system.ds.dso_s_max.values[None], system.n("snapshot"), 0).ravel()
    for _ in range(3):
        x_s, target = _admm_change(split, whole, rng, smax, 0.3)
        # the changed rows hold in the split solution: x − Σ up + Σ down = target
        up = x_s[split.cols("Admm-up-Pcc-p")].reshape(rows.size, -1).sum(1)
        down = x_s[split.cols("Admm-down-Pcc-p")].reshape(rows.size, -1).sum(1)
        np.testing.assert_allclose(x_s[cols] - up + down, target, atol=1e-6)


def _same_optimum_under_new_prices(split, whole, runs: int) -> None:
    """Change the PCC prices ``runs`` times; split and whole LP must reach the same cost."""
    cols = split.cols("Pcc-p")
    rng = np.random.default_rng(3)
    for _ in range(runs):
        price = split.cost[cols] + rng.normal(0, 5, cols.size)
        for lp in (split, whole):
            lp.set_cost(cols, price)
            assert lp.run() == "optimal"
        cur = split.cost.copy()
        cur[cols] = price
        assert cur @ split.values() == pytest.approx(cur @ whole.values(), rel=1e-9)


@pytest.mark.parametrize("settings", [
    {"retry_split": 3},  # the whole LP from its own last optimum while ramps bind
    {"retry_split": 3, "own_start_max_iterations": -1},  # every own start counts as costly
    {"own_start_max_rows": 0},  # a "large" LP: the whole LP from the blocks' bases
])
def test_split_reaches_the_whole_lps_optimum_under_every_start_policy(settings):
    """Ramps bind at every run: whichever start the policy picks, the optimum is the LP's."""
    system = _synthetic()
    split, whole = SnapshotSplitLP(build_tso(system), **settings), PersistentLP(build_tso(system))
    _same_optimum_under_new_prices(split, whole, runs=7)
    assert split.whole_runs == 7  # (the ramps did bind: the whole LP answered every run)


def test_a_given_edge_weight_option_is_kept_for_every_start():
    key = "simplex_dual_edge_weight_strategy"
    given = SnapshotSplitLP(build_tso(_synthetic()), {key: 2})
    assert given.start_edge_weights is None
    assert given.h.getOptionValue(key)[1] == 2
    default = SnapshotSplitLP(build_tso(_synthetic()))
    _same_optimum_under_new_prices(default, PersistentLP(build_tso(_synthetic())), runs=1)
    assert default.h.getOptionValue(key)[1] == -1  # the start's Devex is for that run only


def test_split_reports_an_infeasible_block():
    split, whole = _pair(case(flexnet.DEFAULT_CASE))
    row = split.rows("Bus-balance")[:1]
    for lp in (split, whole):
        lp.set_rhs(row, np.array([1e7]))
    assert split.run() == whole.run() == "infeasible"


def test_split_needs_a_snapshot_dim_on_every_variable():
    m = linopy.Model()
    x = m.add_variables(lower=0, coords=[range(3)], dims=["snapshot"], name="x")
    cap = m.add_variables(lower=0, name="cap")
    m.add_constraints(x <= cap, name="cap-limit")
    m.add_objective(x.sum() * -1 + 5 * cap)
    with pytest.raises(ValueError, match="'cap' has no 'snapshot' dim"):
        SnapshotSplitLP(m)


class _FlakyHighs:
    """Stands in for highspy.Highs: answers the given statuses in turn."""

    def __init__(self, *statuses: str) -> None:
        self.statuses, self.cleared, self.options = list(statuses), 0, {}

    def run(self) -> object:
        import highspy

        self.now = self.statuses.pop(0)
        return highspy.HighsStatus.kOk

    def getOptionValue(self, key: str) -> tuple:  # noqa: N802
        return (None, self.options.get(key, 1))

    def getModelStatus(self) -> str:  # noqa: N802 (highspy's name)
        return self.now

    def modelStatusToString(self, status: str) -> str:  # noqa: N802
        return status

    def clearSolver(self) -> None:  # noqa: N802
        self.cleared += 1

    def setOptionValue(self, key: str, value: object) -> object:  # noqa: N802
        import highspy

        self.options[key] = value
        return highspy.HighsStatus.kOk


def test_a_failed_warm_resolve_is_retried_cold(caplog):
    from flexnet.solver import run_warm

    h = _FlakyHighs("Unknown", "Optimal")
    assert run_warm(h, "agent") == "optimal"
    assert h.cleared == 1
    assert h.options == {"dual_simplex_cost_perturbation_multiplier": 1.0,
                         "simplex_scale_strategy": 2}  # HiGHS's defaults for the cold solve
    assert "solving it again from scratch" in caplog.text
    for definite in ("Infeasible", "Time limit reached", "Optimal"):
        h = _FlakyHighs(definite)
        assert run_warm(h, "agent") == definite.lower()
        assert h.cleared == 0


def _dso_group(n: int = 3) -> linopy.Model:
    from flexnet.coordination.hierarchical import build_dso

    system = _synthetic()
    return build_dso(system.select(list(system.ds.dso.values[:n])))


def _feasible(lp: PersistentLP, x: np.ndarray, tol: float = 1e-6) -> bool:
    """x within the column and row bounds of ``lp``'s HiGHS model as it stands now."""
    import scipy.sparse as sp

    q = lp.h.getLp()
    a = q.a_matrix_
    A = sp.csc_matrix((a.value_, a.index_, a.start_), shape=(q.num_row_, q.num_col_))
    ax = A @ x
    return bool(np.all((ax >= np.asarray(q.row_lower_) - tol) & (ax <= np.asarray(q.row_upper_) + tol))
                and np.all((x >= np.asarray(q.col_lower_) - tol) & (x <= np.asarray(q.col_upper_) + tol)))


@pytest.mark.parametrize("blocks", [2, 3, 50])
def test_component_split_of_a_dso_group_equals_the_whole_lp(blocks):
    split = ComponentLP(_dso_group(3), blocks=blocks)
    whole = PersistentLP(_dso_group(3))
    # three feeders share no row: at most one block each, and no row couples blocks
    assert split.stats["blocks"] == min(blocks, 3)
    assert split._coupling.size == 0
    rng = np.random.default_rng(3)
    smax = np.repeat(_synthetic().ds.dso_s_max.values[None, :3], 6, 0).ravel()
    for _ in range(3):
        x_s, _ = _admm_change(split, whole, rng, smax, 0.2)
        assert _feasible(whole, x_s)
    split.assign()
    assert np.isfinite(split.model.variables["Pcc-p"].solution.values).all()


def test_component_blocks_pack_whole_components_in_order():
    import scipy.sparse as sp

    from flexnet.solver import _component_blocks

    # columns 0-1, 2, 3-5 and 6 form four components (column 6 is in no row)
    A = sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0, 0],
                                [0, 0, 1, 0, 0, 0, 0],
                                [0, 0, 0, 1, 0, 1, 0],
                                [0, 0, 0, 0, 1, 1, 0]], dtype=float))
    np.testing.assert_array_equal(_component_blocks(A, 1), [0] * 7)
    np.testing.assert_array_equal(_component_blocks(A, 2), [0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(_component_blocks(A, 4), [0, 0, 1, 2, 2, 2, 3])
    np.testing.assert_array_equal(_component_blocks(A, 9), [0, 0, 1, 2, 2, 2, 3])


def test_warm_option_defaults_are_highs_defaults():
    """The cold retry after a failed warm re-solve restores HiGHS's own defaults."""
    import highspy

    from flexnet.solver import _WARM_DEFAULTS, WARM_OPTIONS

    h = highspy.Highs()
    assert set(WARM_OPTIONS) == set(_WARM_DEFAULTS)
    for key, val in _WARM_DEFAULTS.items():
        got = h.getOptionValue(key)
        assert (got[1] if isinstance(got, tuple) else got) == val


def test_a_solve_never_depends_on_the_scheduler_a_previous_solve_started():
    """HiGHS refuses a run whose ``threads`` differs from the calling thread's scheduler
    (highspy ≥ 1.15); flexnet resizes the scheduler deliberately, in either order."""
    import flexnet

    s = flexnet.load_case("ieee33")
    costs = [flexnet.solve(s, "centralized", threads=t).dataset.attrs["objective"]
             for t in (2, 1, None, 2)]
    assert np.allclose(costs, costs[0], rtol=1e-9)


def test_a_refused_highs_option_names_the_option_and_quotes_highs():
    import flexnet
    from flexnet.errors import SolverError

    s = flexnet.load_case("ieee33")
    with pytest.raises(SolverError, match=r"'time_limit' = -1.*below lower bound"):
        flexnet.solve(s, "centralized", solver_options={"time_limit": -1.0})
    with pytest.raises(SolverError, match=r"'threads' = 'two'"):
        flexnet.solve(s, "centralized", solver_options={"threads": "two"})
    with pytest.raises(SolverError, match=r"'bogus' = 1.*unknown"):
        flexnet.solve(s, "centralized", solver_options={"bogus": 1})


def test_a_failed_run_is_a_solver_error_not_a_status():
    """A run that HiGHS refuses to start (here: a scheduler of another size started behind
    flexnet's back) raises SolverError instead of returning 'not set'."""
    import highspy

    from flexnet.errors import SolverError
    from flexnet.solver import _SCHEDULER, new_highs, run_checked

    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = 1, 0
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = np.ones(1), np.zeros(1), np.ones(1)
    h = new_highs({"threads": 1})
    h.passModel(lp)
    assert run_checked(h, "x") == "optimal"
    other = new_highs({"threads": 2})
    other.passModel(lp)
    assert run_checked(other, "x") == "optimal"  # flexnet resizes: now 2 threads here
    _SCHEDULER.threads = 1  # pretend flexnet still believes it is 1
    h = new_highs({"threads": 1})
    h.passModel(lp)
    with pytest.raises(SolverError, match="not set"):
        run_checked(h, "x")
    _SCHEDULER.threads = None
    assert run_checked(h, "x") == "optimal"
