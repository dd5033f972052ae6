"""The built wheel carries its data: installed into a new environment, it lists and solves
the shipped cases from outside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import flexnet

ROOT = Path(__file__).resolve().parents[1]


def _run(*cmd: str | Path, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, f"{cmd}: {out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """A new venv holding only the wheel; its dependencies come from this environment's
    site-packages (added by a .pth file, where the editable flexnet is not visible)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy, so the build leaves no build/ or egg-info in the checkout
    shutil.copytree(ROOT / "flexnet", src / "flexnet",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", tmp / "dist", src, cwd=tmp)
    wheel = next((tmp / "dist").glob("flexnet-*.whl"))
    env_dir = tmp / "env"
    _run(sys.executable, "-m", "venv", env_dir, cwd=tmp)
    py = env_dir / "bin" / "python"
    _run(py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp)
    site = Path(_run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                     cwd=tmp).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["FLEXNET_PROGRESS"] = "0"
    return env_dir, env


def test_wheel_holds_the_data_and_the_licences(installed):
    env_dir, env = installed
    out = _run(env_dir / "bin" / "python", "-c",
               "import flexnet; from flexnet.grid.assets import DATASETS; "
               "print(flexnet.__file__); print(DATASETS)", cwd=env_dir.parent,
               env=env).stdout.split()
    assert all(Path(p).is_relative_to(env_dir) for p in out)  # not the checkout
    assert (Path(out[1]) / "profiles.csv").is_file()
    assert (Path(out[1]) / "matpower" / "case118.m").is_file()
    licences = list(env_dir.glob("lib/python*/site-packages/flexnet-*.dist-info/licenses/**/*"))
    assert {"LICENSE", "LICENSE-MATPOWER"} <= {p.name for p in licences}


def test_installed_cli_lists_and_solves_the_default_case_outside_the_repo(installed):
    env_dir, env = installed
    work = env_dir.parent / "elsewhere"
    work.mkdir()
    exe = env_dir / "bin" / "flexnet"
    assert flexnet.__version__ in _run(exe, "--version", cwd=work, env=env).stdout
    cases = _run(exe, "cases", cwd=work, env=env).stdout
    assert flexnet.DEFAULT_CASE in cases
    assert "ieee118" in cases
    run = _run(env_dir / "bin" / "python", "-m", "flexnet", "-q", "run", "--out", "r.nc",
               cwd=work, env=env)
    assert "total_cost" in run.stdout
    assert (work / "r.nc").is_file()
