"""Execution: serial, or dask.distributed. Handed to the algorithms, never woven into them.

``parallel`` means the same in every scheme (:func:`use_dask`): ``False`` runs in this
process, ``True`` on dask, ``"auto"`` on dask when ``workers`` or ``scheduler_address`` is
given. Two ways to use the workers:

- :func:`fan_out` for independent tasks (interval scenarios, nested hours): tasks receive
  compact inputs (xarray Datasets) and build their own models; models are never pickled;
- :class:`AgentPool` for stateful agents called again and again (ADMM subproblems).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from flexnet.progress import Ticker
from flexnet.progress import mode as progress_mode

__all__ = ["AgentPool", "dask_client", "executor", "fan_out", "place", "use_dask"]

log = logging.getLogger("flexnet")


def use_dask(parallel: bool | str, workers: int | None = None,
             scheduler_address: str | None = None) -> bool:
    """Whether to run on dask: ``parallel`` True, or "auto" with workers or a scheduler given."""
    if parallel not in (True, False, "auto"):
        raise ValueError(f"parallel must be True, False or 'auto', not {parallel!r}")
    return parallel is True or (parallel == "auto" and (
        workers is not None or scheduler_address is not None))


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
        # dask sets MALLOC_TRIM_THRESHOLD_=65536 in its workers: glibc then returns memory
        # after every HiGHS solve and warm re-solves take ≈ 2x longer; its statistical
        # profiler samples every thread's stack every 10 ms (docs/scaling.md)
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


@contextlib.contextmanager
def executor(parallel: bool | str = "auto", workers: int | None = None,
             scheduler_address: str | None = None) -> Iterator[Any]:
    """A dask client as :func:`use_dask` decides, else None (serial), for a ``with`` block."""
    if use_dask(parallel, workers, scheduler_address):
        with dask_client(workers, scheduler_address) as client:
            yield client
    else:
        yield None


def fan_out(
    func: Callable[..., Any],
    items: Sequence[Any],
    *,
    shared: dict[str, Any] | None = None,
    client: Any = None,
    progress: bool = True,
    desc: str = "solves",
) -> list[Any]:
    """Run ``func(item, **shared)`` for every item; results in the order of ``items``.

    Parameters
    ----------
    shared : dict, optional
        Large inputs sent to the workers once (scattered) and passed to every call.
    client : dask.distributed.Client, optional
        Run on this client's workers (see :func:`executor`); None runs serially here.
    """
    shared = shared or {}
    show = progress and progress_mode() != "0"
    if client is None:
        ticker = Ticker(desc, show)
        out = []
        for item in tqdm(items, desc=desc, disable=not show or progress_mode() != "bar"):
            out.append(func(item, **shared))
            ticker.update(done=f"{len(out)}/{len(items)}")
        return out
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


class _Holder:
    """A dask actor holding the agents placed on its worker; it runs their calls in turn.

    One holder per worker, not one actor per agent: actors each get their own thread, so
    a worker's agents would otherwise solve at once on one core and compete for it.
    """

    def __init__(self, agents: dict[int, Any]) -> None:
        self.agents = dict(agents)

    def add(self, agents: dict[int, Any]) -> None:
        self.agents.update(agents)

    def call(self, method: str, args: dict[int, tuple]) -> dict[int, Any]:
        return {i: getattr(self.agents[i], method)(*a) for i, a in args.items()}


def place(weights: Sequence[float], workers: int,
          load: Sequence[float] | None = None) -> list[int]:
    """Each agent's worker: largest first onto the least loaded (ties: the lower index).

    ``load`` is what each worker carries already (after a worker loss, the survivors').
    """
    load = np.zeros(workers) if load is None else np.asarray(load, dtype=float).copy()
    where = [0] * len(weights)
    for i in sorted(range(len(weights)), key=lambda k: (-weights[k], k)):
        where[i] = int(np.argmin(load))
        load[where[i]] += weights[i]
    return where


class AgentPool:
    """Stateful agents (e.g. ADMM subproblems) kept alive between calls.

    Without a client the agents live in this process. With one, they are placed once over
    the client's workers by ``weights`` (:func:`place`); each worker's agents live in one
    dask actor that runs their calls in turn, so models are built once, updated in place,
    and every call is one direct message per worker.

    An actor dies with its worker. The pool then re-creates that worker's agents, cold,
    from the original (picklable) objects on the live workers and sends the call again.
    Agents' methods must therefore depend on their arguments only — a cold re-solve may
    land on another optimal vertex of a degenerate LP, not on another optimum.

    Use as a context manager; ``call(method, args)`` returns the results in agent order.
    """

    def __init__(self, agents: Sequence[Any], client: Any = None,
                 weights: Sequence[float] | None = None) -> None:
        self.agents = list(agents)
        self.weights = list(weights) if weights is not None else [1.0] * len(self.agents)
        self._client = client
        self._holders: dict[str, Any] = {}
        self._where: list[str] = []

    def __enter__(self) -> AgentPool:
        if self._client is not None:
            addrs = self._workers()
            self._where = [addrs[k] for k in place(self.weights, len(addrs))]
            self._place(range(len(self.agents)))
        return self

    def __exit__(self, *exc: Any) -> None:
        self._holders = {}  # drop the actor handles before their cluster goes away

    def _workers(self) -> list[str]:
        addrs = sorted(self._client.scheduler_info()["workers"])
        if not addrs:
            raise RuntimeError("AgentPool: no dask workers left")
        return addrs

    def _place(self, idx: Sequence[int]) -> None:
        for w in dict.fromkeys(self._where[i] for i in idx):
            agents = {i: self.agents[i] for i in idx if self._where[i] == w}
            if w in self._holders:
                self._holders[w].add(agents).result()
                continue
            # scattered first: agents carry their system data, too large to embed in a task
            [data] = self._client.scatter([agents], workers=[w])
            self._holders[w] = self._client.submit(_Holder, data, actor=True, workers=[w],
                                                   pure=False).result()

    def _heal(self, lost: list[int]) -> None:
        """Re-create lost agents on the live workers, cold, balanced over their loads."""
        alive = self._workers()
        log.warning("AgentPool: %d agent(s) lost with a worker; rebuilding them on %d "
                    "live worker(s)", len(lost), len(alive))
        self._holders = {w: h for w, h in self._holders.items() if w in alive}
        load = [sum(self.weights[i] for i, x in enumerate(self._where)
                    if x == w and i not in lost) for w in alive]
        for i, k in zip(lost, place([self.weights[i] for i in lost], len(alive), load),
                        strict=True):
            self._where[i] = alive[k]
        self._place(lost)

    def loads(self, cost: Sequence[float]) -> list[float]:
        """``cost`` summed over each worker's agents (serially: one total)."""
        if self._client is None:
            return [float(np.sum(cost))]
        where = np.asarray(self._where, dtype=object)
        return [float(np.asarray(cost)[where == w].sum()) for w in sorted(set(self._where))]

    def call(self, method: str, args: Sequence[tuple] | None = None) -> list[Any]:
        """Call ``method(*args[i])`` on agent i, for all agents; results in agent order."""
        args = [tuple(a) for a in args] if args is not None else [()] * len(self.agents)
        if self._client is None:
            return [getattr(a, method)(*x) for a, x in zip(self.agents, args, strict=True)]
        out: list[Any] = [None] * len(self.agents)
        todo = list(range(len(self.agents)))
        for _ in range(3):
            sent = {w: {i: args[i] for i in todo if self._where[i] == w}
                    for w in dict.fromkeys(self._where[i] for i in todo)}
            futs = {w: self._holders[w].call(method, a) for w, a in sent.items()}
            lost = []
            for w, f in futs.items():
                try:
                    for i, r in f.result().items():
                        out[i] = r
                except Exception as exc:
                    if w in self._client.scheduler_info()["workers"]:
                        raise  # an agent failed, not its worker
                    log.debug("agents %s lost with worker %s: %r", list(sent[w]), w, exc)
                    lost += list(sent[w])
            if not lost:
                return out
            self._heal(lost)
            todo = lost
        raise RuntimeError("AgentPool: agents kept dying with their workers")
