"""dask fan-out and agent pool: same numbers as serial, and a killed worker changes nothing."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
from conftest import case, solved

from flexnet.parallel import AgentPool, dask_client, fan_out, place, use_dask
from flexnet.uncertainty.interval import stage2


# killing a worker process leaves the client's socket to it for the GC to close
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_worker_loss_is_retried_and_result_unchanged(tmp_path):
    s, plan = case("ieee33"), solved("ieee33", "centralized")
    names = ["high", "low", "high@17", "low@12"]
    shared = {"system_ds": s.ds, "plan": plan.dataset}
    marker = tmp_path / "killed"

    def dying_stage2(name, system_ds, plan):  # pickled by value
        # the first task to run kills its own worker: mid-task, never mid-scatter (a
        # timer could hit the scatter under load, and dask's scatter then hangs)
        if not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return stage2(name, system_ds, plan)

    serial = fan_out(stage2, names, shared=shared, progress=False)
    with dask_client(workers=2) as client:
        pids = set(client.run(os.getpid).values())
        par = fan_out(dying_stage2, names, shared=shared, client=client, progress=False)
        assert marker.exists()
        assert pids - set(client.run(os.getpid).values())  # a worker really died
    for a, b in zip(serial, par, strict=True):
        for v in a.data_vars:
            np.testing.assert_allclose(a[v].values, b[v].values, atol=1e-9)


# killing a worker process leaves the client's socket to it for the GC to close
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_agent_pool_rebuilds_agents_lost_with_a_worker():
    """A worker dies mid-run: its agents are rebuilt cold elsewhere; answers unchanged."""

    class Agent:  # defined here so cloudpickle sends it by value
        def __init__(self, k):
            self.k, self._model = k, None

        def __getstate__(self):  # a copy starts from scratch, like an unbuilt subproblem
            return {"k": self.k, "_model": None}

        def step(self, x):
            if self._model is None:  # the "build", redone on the new worker
                self._model = np.arange(5) * self.k
            time.sleep(0.3)
            return float(self._model.sum() * x)

    with dask_client(workers=2) as client, AgentPool([Agent(k) for k in range(4)], client) as pool:
        pids = list(client.run(os.getpid).values())
        # calls take ≈ 0.6 s (two agents per worker): the kill comes after a few steps
        killer = threading.Timer(2.0, os.kill, args=(pids[0], signal.SIGKILL))
        killer.start()
        got = [pool.call("step", [(x,)] * 4) for x in range(6)]
        killer.join()
        assert pids[0] not in client.run(os.getpid).values()
    assert got == [[float(np.arange(5).sum() * k * x) for k in range(4)] for x in range(6)]


def test_agents_are_placed_largest_first_on_the_least_loaded_worker():
    assert place([10, 1, 1, 1, 1, 1], 2) == [0, 1, 1, 1, 1, 1]
    assert place([3, 3, 2, 2, 2], 2) == [0, 1, 0, 1, 0]
    assert place([1, 1], 3, load=[5, 0, 0]) == [1, 2]  # survivors' loads count


def test_agent_pool_runs_serially_without_a_client():
    class Agent:
        def step(self, x):
            return os.getpid(), x

    with AgentPool([Agent(), Agent()]) as pool:
        assert pool.call("step", [(1,), (2,)]) == [(os.getpid(), 1), (os.getpid(), 2)]
        assert pool.loads([0.5, 0.25]) == [0.75]


def test_one_meaning_of_parallel():
    assert not use_dask("auto")
    assert use_dask("auto", workers=2)
    assert use_dask("auto", scheduler_address="tcp://x:8786")
    assert use_dask(True)
    assert not use_dask(False, workers=2)
    with pytest.raises(ValueError, match="parallel must be"):
        use_dask("yes")
