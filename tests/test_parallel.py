"""dask fan-out: same numbers as serial, and a worker killed mid-run changes nothing."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
from conftest import case, solved

from flexnet.parallel import dask_client, fan_out
from flexnet.uncertainty.interval import stage2


def test_worker_loss_is_retried_and_result_unchanged():
    s, plan = case("ieee33"), solved("ieee33", "centralized")
    names = ["high", "low", "high@17", "low@12"]
    shared = {"system_ds": s.ds, "plan": plan.dataset}

    def slow_stage2(name, system_ds, plan):  # pickled by value; slow enough to be killed
        time.sleep(1.5)
        return stage2(name, system_ds, plan)

    serial = fan_out(stage2, names, shared=shared, parallel=False, progress=False)
    with dask_client(workers=2) as client:
        pids = list(client.run(os.getpid).values())
        killer = threading.Timer(0.8, os.kill, args=(pids[0], signal.SIGKILL))
        killer.start()
        par = fan_out(slow_stage2, names, shared=shared, client=client, progress=False)
        killer.join()
        assert pids[0] not in client.run(os.getpid).values()  # that worker really died
    for a, b in zip(serial, par, strict=True):
        for v in a.data_vars:
            np.testing.assert_allclose(a[v].values, b[v].values, atol=1e-9)
