"""Every figure function saves a non-empty PNG; the CLI writes figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from conftest import solved
from test_cli import run

import flexnet
from flexnet import plot


def _save(fig, path) -> int:
    fig.savefig(path)
    plt.close(fig)
    return path.stat().st_size


@pytest.mark.parametrize("name", ["voltage_profiles", "lmp_heatmap", "line_loading",
                                  "pcc_exchange", "building_temperatures", "storage_energy"])
def test_result_figures(tmp_path, name):
    r = solved(flexnet.DEFAULT_CASE, "centralized")
    assert _save(getattr(plot, name)(r), tmp_path / f"{name}.png") > 5_000


def test_admm_and_interval_figures(tmp_path):
    from test_hierarchical import hierarchical
    from test_interval import stage as interval_result

    assert _save(plot.admm_convergence(hierarchical()), tmp_path / "admm.png") > 5_000
    assert _save(plot.interval_envelopes(interval_result()), tmp_path / "iv.png") > 5_000


def test_comparison_bars(tmp_path):
    table = flexnet.compare(flexnet.load_case("rts24-dso"), ["sequential", "centralized"])
    assert _save(plot.comparison_bars(table), tmp_path / "cmp.png") > 5_000


def test_missing_variable_is_a_clear_error():
    r = solved("rts24", "centralized")
    with pytest.raises(flexnet.DataError, match="node_v"):
        plot.voltage_profiles(r)


def test_cli_writes_figures(tmp_path):
    p = run("run", "rts24-dso", "--out", str(tmp_path / "r.nc"), "--plots", str(tmp_path / "fig"))
    assert p.returncode == 0, p.stderr
    pngs = sorted((tmp_path / "fig").glob("*.png"))
    assert len(pngs) >= 6
    assert all(f.stat().st_size > 5_000 for f in pngs)
    c = run("compare", "rts24-dso", "--schemes", "sequential", "centralized", "--csv",
            str(tmp_path / "c.csv"), "--plot", str(tmp_path / "c.png"))
    assert c.returncode == 0, c.stderr
    assert (tmp_path / "c.png").stat().st_size > 5_000
