"""The CLI end to end, as a subprocess: exit codes, messages, files."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "flexnet.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_help_for_every_command():
    for cmd in ([], ["cases"], ["run"], ["compare"], ["info"], ["synth"]):
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
