"""Progress of long runs: plain lines when the output is not a terminal."""

from __future__ import annotations

import flexnet
import flexnet.progress as progress


def test_lines_mode_prints_iteration_residuals_and_elapsed(monkeypatch, capsys):
    monkeypatch.setenv("FLEXNET_PROGRESS", "lines")
    monkeypatch.setattr(progress, "EVERY", 0.0)
    flexnet.solve(flexnet.load_case("rts24-dso").select(["DSO1"], 4), "hierarchical")
    lines = capsys.readouterr().err.splitlines()
    assert lines
    assert all(line.startswith("ADMM: iteration") and "elapsed" in line for line in lines)


def test_quiet_mode_prints_nothing(monkeypatch, capsys):
    monkeypatch.setenv("FLEXNET_PROGRESS", "0")
    monkeypatch.setattr(progress, "EVERY", 0.0)
    flexnet.solve(flexnet.load_case("rts24-dso").select(["DSO1"], 4), "hierarchical")
    assert capsys.readouterr().err == ""
