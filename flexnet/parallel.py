"""One fan-out path for independent solves: serial, or dask.distributed.

Tasks receive compact inputs (xarray Datasets) and build their own models on the worker;
models are never pickled. By default a LocalCluster sized to the machine is started;
``scheduler_address`` connects to an existing dask cluster instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from flexnet.progress import Ticker
from flexnet.progress import mode as progress_mode

__all__ = ["ModelPool", "dask_client", "fan_out"]

log = logging.getLogger("flexnet")


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler_address: str | None = None):
    """A dask.distributed client: an existing scheduler, or a LocalCluster for the block.

    Keep one client for a whole algorithm: a fresh worker process costs ≈ 1.4 s and
    124 MB just to import linopy and highspy (DESIGN §5).
    """
    import dask
    from dask.distributed import Client, LocalCluster

    cluster = None
    if scheduler_address:
        client = Client(scheduler_address)
    else:
        n = workers or os.cpu_count() or 1
        # dask sets MALLOC_TRIM_THRESHOLD_=65536 in its workers; glibc then returns memory
        # to the OS after every HiGHS solve and warm re-solves took 1.9x longer (0.31 vs
        # 0.17 s on a 100-feeder ADMM agent). Unset it: glibc's adaptive default is used.
        # The workers' statistical profiler samples every thread's stack every 10 ms and
        # made 2-worker ADMM steps ≈ 11 % slower (0.45–0.46 vs 0.39–0.41 s, docs/scaling.md)
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_":
                              None, "distributed.worker.profile.enabled": False}), \
                warnings.catch_warnings():
            # the scheduler's HTTP routes still bind a port without a dashboard; another
            # cluster on 8787 only moves them, which is not the user's business
            warnings.filterwarnings("ignore", message=".*Port 8787 is already in use")
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def fan_out(
    func: Callable[..., Any],
    items: Sequence[Any],
    *,
    shared: dict[str, Any] | None = None,
    parallel: bool | str = "auto",
    workers: int | None = None,
    scheduler_address: str | None = None,
    client: Any = None,
    progress: bool = True,
    desc: str = "solves",
) -> list[Any]:
    """Run ``func(item, **shared)`` for every item; results in the order of ``items``.

    Parameters
    ----------
    parallel : bool or "auto"
        ``False`` runs serially in this process; ``True`` uses dask.distributed;
        ``"auto"`` uses dask when a scheduler address is given or there are several items.
    workers : int, optional
        LocalCluster worker processes (default: the number of cores).
    scheduler_address : str, optional
        Address of an existing dask scheduler (``tcp://host:8786``).
    shared : dict, optional
        Large inputs sent to the workers once (scattered) and passed to every call.
    client : dask.distributed.Client, optional
        Reuse this client (see :func:`dask_client`) instead of starting a cluster.
    """
    shared = shared or {}
    use_dask = client is not None or parallel is True or (
        parallel == "auto" and (scheduler_address or len(items) > 1))
    show = progress and progress_mode() != "0"
    if not use_dask:
        ticker = Ticker(desc, show)
        out = []
        for item in tqdm(items, desc=desc, disable=not show or progress_mode() != "bar"):
            out.append(func(item, **shared))
            ticker.update(done=f"{len(out)}/{len(items)}")
        return out
    if client is None:
        with dask_client(workers, scheduler_address) as own:
            return _submit(own, func, items, shared, show, desc)
    return _submit(client, func, items, shared, show, desc)


def _submit(client, func, items, shared, show, desc) -> list[Any]:
    from dask.distributed import as_completed
    from distributed.client import FutureCancelledError as CancelledError

    out: list[Any] = [None] * len(items)
    todo = list(range(len(items)))
    bar = tqdm(total=len(items), desc=desc, disable=not show or progress_mode() != "bar")
    ticker = Ticker(desc, show)
    for attempt in range(3):
        # hash=False: unique keys per call, so releasing an earlier call never drops this data
        scattered = {k: client.scatter(v, broadcast=True, hash=False) for k, v in shared.items()}
        # retries: a task whose worker dies is rerun elsewhere with the same inputs
        futures = {client.submit(func, items[i], **scattered, pure=False, retries=2): i
                   for i in todo}
        lost = []
        for fut in as_completed(futures):
            try:
                out[futures[fut]] = fut.result()
                bar.update()
                ticker.update(done=f"{sum(o is not None for o in out)}/{len(items)}")
            except CancelledError:  # every replica of a scattered input died with workers
                lost.append(futures[fut])
        if not lost:
            break
        log.warning("fan-out: %d task(s) lost their inputs with a worker; re-sending "
                    "(attempt %d)", len(lost), attempt + 2)
        todo = lost
    else:
        raise RuntimeError(f"fan-out: {len(todo)} task(s) lost their inputs three times")
    bar.close()
    return out


def _call(obj: Any, method: str, args: tuple) -> Any:
    return getattr(obj, method)(*args)


#: added to the ``nice`` of the thread that runs a worker's agents other than the pool's
#: leads (Linux). At +10 the kernel weighs a lead ≈ 9× a lane thread, so a lead at work
#: keeps a core to itself and the lanes share the other. Read when a pool places its
#: agents; 0 keeps every thread at the worker's priority.
LANE_NICE = 10


def _lower_priority(by: int) -> None:
    """Give the calling thread a lower CPU priority (Linux: ``nice`` is per thread)."""
    import sys
    import threading

    if by > 0 and sys.platform.startswith("linux"):  # elsewhere: the whole process
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid,
                           min(os.getpriority(os.PRIO_PROCESS, tid) + by, 19))


class _Holder:
    """A dask actor holding the agents placed on its worker; it runs their calls in turn.

    One holder per worker, not one actor per agent: actors each get their own thread, so
    a worker's agents would otherwise solve at once on one core and compete for it.

    The exception are the pool's *leads* (``ModelPool(lead=...)``): a lead's call runs
    in the actor's thread at normal priority while the worker's other agents run in turn
    in one *lane* thread at lower priority (:data:`LANE_NICE`). With as many workers as
    cores the operating system then gives the lead a core whenever it is at work and the
    lanes share what is left, so one long call (the TSO's re-solve in ADMM) is overlapped
    with every worker's short ones instead of adding to its own worker's.
    """

    def __init__(self, agents: dict[int, Any], lead: Sequence[int] = (), nice: int = 0) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.agents = dict(agents)
        self.lead = set(lead)
        self.shadows: dict[int, Any] = {}  # copies catching up before a move (ModelPool)
        self._lane = ThreadPoolExecutor(1, thread_name_prefix="flexnet-lane",
                                        initializer=_lower_priority, initargs=(nice,))

    def add(self, agents: dict[int, Any]) -> None:
        self.agents.update(agents)

    def drop(self, idx: list[int]) -> None:
        for i in idx:
            del self.agents[i]

    def call(self, method: str, args: dict[int, tuple]) -> dict[int, Any]:
        rest = {i: a for i, a in args.items() if i not in self.lead}
        lane = self._lane.submit(lambda: {i: _call(self.agents[i], method, a)
                                          for i, a in rest.items()})
        out = {i: _call(self.agents[i], method, a) for i, a in args.items() if i in self.lead}
        return out | lane.result()

    def add_shadows(self, agents: dict[int, Any]) -> None:
        self.shadows.update(agents)

    def catch_up(self, method: str, todo: dict[int, list[tuple[tuple, float]]],
                 budget: float) -> dict[int, int]:
        """Replay calls on shadow copies, in order, while they fit in ``budget`` seconds.

        ``todo`` holds each copy's pending calls as (arguments, expected seconds); a call
        is started only if it is expected to end within the budget. Returns the number of
        calls each copy went through.
        """
        return self._lane.submit(self._catch_up, method, todo, budget).result()

    def _catch_up(self, method: str, todo: dict[int, list[tuple[tuple, float]]],
                  budget: float) -> dict[int, int]:
        t0 = time.perf_counter()
        done = dict.fromkeys(todo, 0)
        for i, calls in todo.items():
            for a, expected in calls:
                if time.perf_counter() - t0 + expected > budget:
                    return done
                _call(self.shadows[i], method, a)
                done[i] += 1
        return done

    def promote(self, idx: list[int]) -> None:
        for i in idx:
            self.agents[i] = self.shadows.pop(i)

    def drop_shadows(self) -> None:
        self.shadows.clear()


class ModelPool:
    """Stateful agents (e.g. ADMM subproblems) kept alive between calls.

    Serially they live in this process. With dask the agents are spread round-robin over
    the workers, each worker's agents in one dask *actor* that runs their calls one after
    the other, so models are built once, updated in place, and every call is one direct
    message per worker (no scheduler round trip, no moves between workers).

    Actors die with their worker. The pool then re-creates the lost agents from the
    original (picklable) objects on the surviving workers, replays every call of the
    ``replay`` method (the one that changes their state, e.g. ``"step"``) they had
    received, in order, and retries the call. A rebuilt agent thus goes through the same
    history as the lost one (a warm-started solver from the same bases), so the results
    are unchanged. The pool keeps those calls' arguments for the whole run (for ADMM:
    prices and targets, ≈ 1 MB per iteration at 500 feeders).

    :meth:`rebalance` moves agents between workers the same way (re-create, replay), at
    once or in the background: a shadow copy on the new worker replays the history in
    that worker's idle time (:meth:`catch_up`) and takes over when it has caught up.

    ``lead`` names agents whose calls may take much longer than the others' (the TSO in
    ADMM). Each runs in its own thread at normal priority, beside its worker's other
    agents, which run in one lower-priority thread per worker (``_Holder``): the lead's
    call is overlapped with every worker's short ones, and :meth:`worker_loads` and
    :meth:`rebalance` even out the other agents only. A worker holding a lead thus uses
    up to two cores, and the lanes yield to every other process of the worker's host at
    normal priority; ``flexnet.parallel.LANE_NICE = 0`` (set before the pool starts)
    keeps them at the worker's priority.

    Use as a context manager; ``call(method, args)`` returns the results in agent order.
    """

    def __init__(self, agents: Sequence[Any], *, parallel: bool = False,
                 workers: int | None = None, scheduler_address: str | None = None,
                 client: Any = None, replay: str | None = "step",
                 lead: Sequence[int] = ()) -> None:
        self.agents = list(agents)
        self.lead = sorted(set(lead))
        self.parallel = parallel or client is not None
        self._client = client
        self._workers = workers
        self._address = scheduler_address
        self._replay = replay
        self._history: dict[int, list[tuple]] = {}
        self._stack = contextlib.ExitStack()
        self._holders: dict[str, Any] = {}
        #: agent → its shadow copy's worker and how many replay calls it has been through
        self._shadows: dict[int, dict[str, Any]] = {}
        self._pending: dict[str, Any] = {}  # worker → its running catch-up (a future)
        self._budget: dict[str, float] = {}  # worker → seconds of catch-up in the next call
        self._cost: dict[int, dict[int, float]] = {}  # agent → replay call → seconds taken
        #: agents moved so far (a background move counts when the copy takes over)
        self.moves = 0

    def __enter__(self) -> ModelPool:
        if not self.parallel:
            return self
        if self._client is None:
            self._client = self._stack.enter_context(dask_client(self._workers, self._address))
        addrs = sorted(self._client.scheduler_info()["workers"])
        self._where = [addrs[i % len(addrs)] for i in range(len(self.agents))]
        for w in addrs:
            self._place([i for i, x in enumerate(self._where) if x == w], w)
        return self

    def __exit__(self, *exc: Any) -> None:
        # drop the actor handles before their cluster goes away
        self._holders, self._pending, self._shadows = {}, {}, {}
        self._stack.close()

    def _place(self, idx: list[int], worker: str) -> None:
        agents = {i: self.agents[i] for i in idx}
        if worker in self._holders:
            self._holders[worker].add(agents).result()
            return
        # scattered first: agents carry their system data, too large to embed in a task
        [data] = self._client.scatter([agents], workers=[worker])
        fut = self._client.submit(_Holder, data, self.lead, LANE_NICE, actor=True,
                                  workers=[worker], pure=False)
        self._holders[worker] = fut.result()

    def _heal(self, lost: list[int]) -> None:
        """Re-create lost agents on live workers and restore their last state."""
        alive = sorted(self._client.scheduler_info()["workers"])
        if not alive:
            raise RuntimeError("ModelPool: no dask workers left")
        log.warning("ModelPool: %d agent(s) lost with a worker; rebuilding them on %d "
                    "live worker(s)", len(lost), len(alive))
        self._holders = {w: h for w, h in self._holders.items() if w in alive}
        self._drop_shadows()  # background moves are given up; the live agents count
        for k, i in enumerate(lost):
            self._where[i] = alive[k % len(alive)]
        for w in alive:
            moved = [i for i in lost if self._where[i] == w]
            if moved:
                self._place(moved, w)
                self._replay_history(moved, w)

    def _replay_history(self, idx: list[int], worker: str) -> None:
        """Put re-created agents through their ``replay`` calls so far, in order."""
        depth = max((len(self._history.get(i, ())) for i in idx), default=0)
        for k in range(depth):
            args = {i: self._history[i][k] for i in idx if len(self._history.get(i, ())) > k}
            self._holders[worker].call(self._replay, args).result()

    def _without_leads(self, cost: Sequence[float]) -> np.ndarray:
        """``cost`` as floats, 0 for the leads: they run beside their worker's other agents."""
        cost = np.array(cost, dtype=float)
        cost[self.lead] = 0.0
        return cost

    def worker_loads(self, cost: Sequence[float]) -> list[float]:
        """``cost`` summed over each worker's agents (serially: one total).

        With per-agent solve seconds of one call, the largest entry is the busiest
        worker's share of that call: what the call would take with no dispatch overhead.
        """
        if not self.parallel or not self._holders:
            return [float(np.sum(cost))]
        cost = self._without_leads(cost)
        where = np.asarray(self._where, dtype=object)
        return [float(cost[where == w].sum()) for w in sorted(self._holders)]

    def rebalance(self, cost: Sequence[float], min_gain: float = 0.05,
                  spent: Sequence[float] | None = None, horizon: float | None = None,
                  background: bool = False, setup: Sequence[float] | None = None) -> int:
        """Move agents so that the workers' summed ``cost`` is even, with few moves.

        Each move takes an agent from the most loaded worker to the least loaded one, the
        agent whose cost comes closest to halving their gap (only agents smaller than the
        gap: every move lowers the sum of squared loads, so this ends); the moves are
        applied only when they shorten the slowest worker's load by at least ``min_gain``
        (a fraction). A moved agent is re-created on its new worker from the original
        object and replays its history of ``replay`` calls, as after a worker loss, so
        the results do not change.

        ``background=False`` replays at once, which repeats the moved agents' calls so
        far while the caller waits: given ``spent`` (each agent's seconds in those calls)
        and ``horizon`` (calls still to come), the move is made only if the slowest
        worker's saving over the horizon exceeds the replays' summed seconds.

        ``background=True`` only starts the moves: the new worker gets a *shadow* copy
        that :meth:`catch_up` replays in that worker's idle time between calls, and the
        copy takes over (the old one is dropped) once it has replayed every call. One set
        of background moves at a time. ``setup`` (seconds to create each agent, e.g. its
        model build) is added to the expected time of a copy's first replay. Returns the
        number of agents moved (or starting to).
        """
        if not self.parallel or len(self._holders) < 2 or (background and self._shadows):
            return 0
        cost = self._without_leads(cost)  # leads stay where they are
        addrs = sorted(self._holders)
        before = dict(zip(addrs, self.worker_loads(cost), strict=True))
        load = dict(before)
        where = list(self._where)
        for _ in range(4 * len(where)):  # (a bound against float round-off only)
            hi, lo = max(addrs, key=load.__getitem__), min(addrs, key=load.__getitem__)
            gap = load[hi] - load[lo]
            fits = [i for i, w in enumerate(where) if w == hi and 0 < cost[i] < gap]
            if not fits:
                break
            i = min(fits, key=lambda k: abs(gap - 2 * cost[k]))
            where[i] = lo
            load[hi] -= cost[i]
            load[lo] += cost[i]
        if max(load.values()) > (1 - min_gain) * max(before.values()):
            return 0
        moved = [i for i in range(len(where)) if where[i] != self._where[i]]
        if background:
            for w in addrs:
                into = {i: self.agents[i] for i in moved if where[i] == w}
                if into:
                    self._holders[w].add_shadows(into).result()
            first = np.zeros(len(where)) if setup is None else np.asarray(setup, dtype=float)
            self._shadows = {i: {"to": where[i], "done": 0, "setup": float(first[i])}
                             for i in moved}
            log.info("ModelPool: moving %d agent(s) in the background; slowest worker's "
                     "load %.3g -> %.3g", len(moved), max(before.values()), max(load.values()))
            return len(moved)
        if spent is not None and horizon is not None and (
                (max(before.values()) - max(load.values())) * horizon
                <= float(np.asarray(spent, dtype=float)[moved].sum())):
            return 0
        for w in addrs:
            out = [i for i in moved if self._where[i] == w]
            if out:
                self._holders[w].drop(out).result()
        self._where = where
        for w in addrs:
            into = [i for i in moved if where[i] == w]
            if into:
                self._place(into, w)
                self._replay_history(into, w)
        self.moves += len(moved)
        log.info("ModelPool: moved %d agent(s); slowest worker's load %.3g -> %.3g",
                 len(moved), max(before.values()), max(load.values()))
        return len(moved)

    def catch_up(self, cost: Sequence[float], share: float = 0.8) -> None:
        """Budget the shadow copies' replays (``rebalance(background=True)``) in idle time.

        ``cost`` is each agent's seconds in the last ``replay`` call (call it after every
        one: the seconds also tell what replaying that call will take). In the next call,
        each shadow's worker gets ``share`` of its gap to the busiest worker's load in
        the last call as a time budget: right after its own agents' calls it replays the
        pending calls (the current one included) on its shadow copies while they fit in
        the budget, as the busiest worker is still at work. A copy that has replayed
        every call takes over at the start of the call after.
        """
        for i, c in enumerate(cost):
            self._cost.setdefault(i, {})[len(self._history.get(i, ())) - 1] = float(c)
        if not self.parallel or not self._holders:
            return
        loads = dict(zip(sorted(self._holders), self.worker_loads(cost), strict=True))
        top = max(loads.values())
        # the last gap, not the smallest of a few: after the TSO's slow re-solves
        # (ACTIVSg2000) a replay can then run 5 s into the next call, but with the
        # smallest of the last three gaps no copy's build (≈ 2 s) ever fit at 300 feeders
        self._budget = {w: share * (top - v) for w, v in loads.items()}

    def _start_catch_up(self, args: Sequence[tuple]) -> None:
        """Queue a catch-up behind the call just sent, on every shadow's worker."""
        for w in {sh["to"] for sh in self._shadows.values()}:
            budget = self._budget.get(w, 0.0)
            if w in self._pending or w not in self._holders or budget <= 0:
                continue
            todo = {}
            for i, sh in self._shadows.items():
                if sh["to"] != w:
                    continue
                calls = self._history.get(i, [])[sh["done"]:] + [tuple(args[i])]
                known = self._cost.get(i, {})
                last = next(reversed(known.values()), 0.0)  # for the current call
                todo[i] = [(a, known.get(k, last) + (sh["setup"] if k == 0 else 0.0))
                           for k, a in enumerate(calls, start=sh["done"])]
            self._pending[w] = self._holders[w].catch_up(self._replay, todo, budget)

    def _drop_shadows(self) -> None:
        """Give up background moves (after a worker loss): drop every shadow copy."""
        if not self._shadows:
            return
        for w, h in self._holders.items():
            with contextlib.suppress(Exception):  # a dead worker's holder: nothing to drop
                if w in self._pending:
                    self._pending[w].result()
                h.drop_shadows().result()
        self._shadows, self._pending = {}, {}

    def _collect(self) -> None:
        """Wait for the catch-ups; hand over to shadows that have replayed every call.

        Waiting costs little: the next call to a catch-up's worker would queue behind it
        anyway, and its budget was meant to end it before the busiest worker's call did.
        """
        for w, fut in list(self._pending.items()):
            del self._pending[w]
            try:
                done = fut.result()
            except Exception as exc:  # its worker died: the next call heals the pool
                log.warning("ModelPool: background moves given up (%r)", exc)
                self._drop_shadows()
                return
            for i, n in done.items():
                self._shadows[i]["done"] += n
        ready = [i for i, sh in self._shadows.items()
                 if sh["done"] == len(self._history.get(i, ()))]
        # the copies take over before the originals go: a worker lost in between leaves
        # every agent live somewhere
        for w in sorted(self._holders):
            into = [i for i in ready if self._shadows[i]["to"] == w]
            if into:
                self._holders[w].promote(into).result()
        for w in sorted(self._holders):
            out = [i for i in ready if self._where[i] == w]
            if out:
                self._holders[w].drop(out).result()
        for i in ready:
            self._where[i] = self._shadows.pop(i)["to"]
        if ready:
            self.moves += len(ready)
            log.info("ModelPool: %d agent(s) moved (their copies caught up)", len(ready))

    def call(self, method: str, args: Sequence[tuple] | None = None) -> list[Any]:
        """Call ``method(*args[i])`` on agent i, for all agents; results in agent order."""
        args = list(args) if args is not None else [()] * len(self.agents)
        if not self.parallel:
            return [_call(a, method, x) for a, x in zip(self.agents, args, strict=True)]
        if method == self._replay and self._shadows:
            with contextlib.suppress(Exception):  # a lost worker shows in the call below
                self._collect()
        out: list[Any] = [None] * len(self.agents)
        todo = list(range(len(self.agents)))
        for _ in range(3):
            by_worker: dict[str, dict[int, tuple]] = {}
            for i in todo:
                by_worker.setdefault(self._where[i], {})[i] = tuple(args[i])
            futs = {w: self._holders[w].call(method, a) for w, a in by_worker.items()}
            if method == self._replay and self._shadows and len(todo) == len(self.agents):
                self._start_catch_up(args)
            lost = []
            for w, f in futs.items():
                try:
                    for i, r in f.result().items():
                        out[i] = r
                except Exception as exc:
                    if w in self._client.scheduler_info()["workers"]:
                        raise  # an agent failed, not its worker
                    log.debug("agents %s lost with worker %s: %r", list(by_worker[w]), w, exc)
                    lost += list(by_worker[w])
            if not lost:
                break
            self._heal(lost)
            todo = lost
        else:
            raise RuntimeError("ModelPool: agents kept dying with their workers")
        if method == self._replay:  # (parallel only: a serial pool never rebuilds)
            for i, a in enumerate(args):
                self._history.setdefault(i, []).append(tuple(a))
        return out
