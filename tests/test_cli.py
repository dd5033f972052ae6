"""The CLI end to end, as a subprocess: exit codes, messages, files."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "flexnet.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_help_for_every_command():
    for cmd in ([], ["cases"], ["run"], ["compare"], ["info"], ["synth"], ["study"]):
        p = run(*cmd, "--help")
        assert p.returncode == 0
        assert "usage: flexnet" in p.stdout


def test_run_writes_results(tmp_path):
    out = tmp_path / "res.nc"
    p = run("run", "ieee33", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "total_cost" in p.stdout
    assert out.exists()
    info = run("info", str(out))
    assert info.returncode == 0
    assert "flexnet-result" in info.stdout
    assert "node_v" in info.stdout


def test_synth_and_info(tmp_path):
    out = tmp_path / "sys.nc"
    p = run("synth", "--buses", "20", "--feeders", "2", "--nodes", "6", "--out", str(out))
    assert p.returncode == 0, p.stderr
    info = run("info", str(out))
    assert "flexnet-system" in info.stdout
    p = run("run", "--system", str(out), "--out", str(tmp_path / "r.nc"))
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize(("args", "code", "text"), [
    (["run", "nosuch"], 2, "unknown case 'nosuch'"),
    (["run", "--system", "missing.nc"], 2, "no such file"),
    (["info", "missing.nc"], 2, "no such file"),
])
def test_errors_are_one_line(args, code, text):
    p = run(*args)
    assert p.returncode == code
    assert text in p.stderr
    assert "Traceback" not in p.stderr


def test_corrupted_file(tmp_path):
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"\x89HDF garbage")
    p = run("run", "--system", str(bad))
    assert p.returncode == 2
    assert "not a readable netCDF" in p.stderr
    assert "Traceback" not in p.stderr


def test_infeasible_exit_code(tmp_path):
    import flexnet

    s = flexnet.load_case("rts24")
    s.ds["fr_up"] = s.ds.fr_up * 0 + 9000.0
    s.to_netcdf(tmp_path / "inf.nc")
    p = run("run", "--system", str(tmp_path / "inf.nc"), "--out", str(tmp_path / "x.nc"))
    assert p.returncode == 3
    assert "infeasible" in p.stderr
    assert "fr_up" in p.stderr
    assert not (tmp_path / "x.nc").exists()


_SLOW_WRITE = """
import sys, time, pathlib
import xarray as xr
from flexnet.cli import main

real = xr.Dataset.to_netcdf
def slow(self, path, *a, **k):  # write, then linger inside the write: the test's SIGINT lands
    out = real(self, path, *a, **k)
    pathlib.Path(sys.argv[1]).write_text("writing")
    time.sleep(60)
    return out
xr.Dataset.to_netcdf = slow
sys.exit(main(sys.argv[2:]))
"""


def test_ctrl_c_during_the_write_leaves_the_previous_file(tmp_path):
    """SIGINT while the results file is being written: exit code 130 within seconds, one
    line, no traceback, no temporary file left, the previous file intact."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "r.nc"
    out.write_bytes(b"previous results")
    marker = tmp_path / "writing"
    script = tmp_path / "slow.py"
    script.write_text(_SLOW_WRITE)
    proc = subprocess.Popen([sys.executable, str(script), str(marker), "-q", "run", "ieee33",
                             "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not marker.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert marker.exists(), proc.communicate()
    t0 = time.time()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.time() - t0 < 10
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines() == ["flexnet: interrupted; no results written"]
    assert out.read_bytes() == b"previous results"
    assert not list(tmp_path.glob(".r.nc.*"))


def test_cli_numbers_are_range_checked():
    for argv in (["run", "--time-limit", "-1"], ["run", "--mip-gap", "2"],
                 ["run", "--workers", "0"], ["run", "--drcc", "0"],
                 ["synth", "--buses", "x", "--out", "s.nc"]):
        p = run(*argv)
        assert p.returncode == 2
        assert "error: argument" in p.stderr


def test_time_limited_run_names_status_and_gap(tmp_path):
    """Not proven optimal: a non-zero exit naming the status; accepted on request with
    exit code 5 and the status as the summary's first row."""
    import flexnet

    out = tmp_path / "r.nc"
    p = run("-q", "run", "--time-limit", "0.05", "--out", str(out))
    assert p.returncode == 4
    # HiGHS may stop with a point (then the gap is named) or before it has one (timing)
    assert "status 'time_limit', gap" in p.stderr or \
        "before a solution was found [scheme=centralized, solver status=time_limit]" in p.stderr
    assert not out.exists()
    p = run("-q", "run", "--time-limit", "0.05", "--allow-suboptimal", "--out", str(out))
    if p.returncode == 4:  # HiGHS had no point at all yet (timing): nothing to accept
        assert "before a solution was found" in p.stderr
        return
    assert p.returncode == 5
    assert p.stdout.splitlines()[2].split() == ["status", "time_limit"]
    assert flexnet.read_result(out).dataset.attrs["status_ok"] == 0


def test_quiet_run_prints_only_the_summary(tmp_path):
    p = run("-q", "run", "ieee33", "--out", str(tmp_path / "r.nc"))
    assert p.returncode == 0
    assert p.stderr == ""
    assert p.stdout.splitlines()[0].strip() == "centralized"
    assert "HiGHS" not in p.stdout


def test_quiet_dask_run_prints_no_dask_log(tmp_path):
    """Two dask workers under -q: the summary only, not a line of dask's INFO logs."""
    import flexnet

    sys_file = flexnet.load_case(flexnet.DEFAULT_CASE).select(["DSO1", "DSO2"], 4).to_netcdf(
        tmp_path / "s.nc")
    p = run("-q", "run", "--system", str(sys_file), "--scheme", "hierarchical", "--workers",
            "2", "--out", str(tmp_path / "r.nc"))
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert "distributed" not in p.stdout


def test_drcc_run_writes_the_margins(tmp_path):
    import xarray as xr

    out = tmp_path / "r.nc"
    p = run("--quiet", "run", "--drcc", "0.05", "--out", str(out))
    assert p.returncode == 0, p.stderr
    with xr.open_dataset(out) as r:
        assert r.attrs["scheme"] == "centralized+drcc"
        assert r.attrs["drcc_eps"] == 0.05
        assert "drcc_total_up" in r
    p = run("run", "--drcc", "0.05", "--scheme", "nested")
    assert p.returncode == 64
    assert "--drcc applies to" in p.stderr
