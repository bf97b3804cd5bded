"""Executors: where episodes run.

An executor takes :class:`~halo_core.evaluation.jobs.EpisodeJob` objects, runs
each one with :func:`~halo_core.evaluation.jobs.execute_job` somewhere, and hands
every outcome back to ``on_result`` *in the calling thread*: the coordinator is
the only writer of the results files. A job whose process dies still produces an
outcome (an error record made with
:func:`~halo_core.evaluation.jobs.failed_outcome`), so a run always finishes.

Three ship with HALO: ``local`` (a pool of worker processes on this machine), ``ray``
(one Ray actor per worker, on a local or remote Ray cluster) and ``threads`` (threads of
this process, so episodes share a model loaded in it). A plugin adds
another with :func:`register_executor`::

    from halo_core.evaluation.executors import register_executor

    class SlurmExecutor:
        def __init__(self, workers=None, address=None, **options): ...
        def map(self, jobs, on_result):
            for job in jobs:
                ...  # run execute_job(job) on a node, then on_result(job, outcome)

    register_executor("slurm", SlurmExecutor)

and ``halo eval --executor slurm`` uses it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import traceback
from multiprocessing.connection import wait as wait_any
from typing import Any, Callable, Iterable, Protocol, runtime_checkable

from halo_core.evaluation.jobs import EpisodeJob, EpisodeOutcome, WorkerState, execute_job, failed_outcome

__all__ = ["Executor", "LocalExecutor", "RayExecutor", "ThreadExecutor", "OnResult", "create_executor", "executor_names",
           "register_executor"]

OnResult = Callable[[EpisodeJob, EpisodeOutcome], None]


@runtime_checkable
class Executor(Protocol):
    """Runs episode jobs; calls ``on_result(job, outcome)`` once per job, in the caller's thread."""

    def map(self, jobs: Iterable[EpisodeJob], on_result: OnResult) -> None: ...


# --------------------------------------------------------------------------- registry

ExecutorFactory = Callable[..., Executor]
_REGISTRY: dict[str, ExecutorFactory] = {}


def register_executor(name: str, factory: ExecutorFactory, *, replace: bool = False) -> None:
    """Make ``--executor name`` available. ``factory(workers=, address=, **options)`` returns an executor."""
    if name in _REGISTRY and not replace and _REGISTRY[name] is not factory:
        raise ValueError(f"an executor named {name!r} is already registered")
    _REGISTRY[name] = factory


def executor_names() -> list[str]:
    return sorted(_REGISTRY)


def create_executor(name: str, *, workers: int | None = None, address: str | None = None,
                    **options: Any) -> Executor:
    """The executor registered as ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown executor {name!r}; known: {', '.join(executor_names())}") from None
    return factory(workers=workers, address=address, **options)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------- local processes


def _worker_main(conn, slot: int) -> None:
    """A worker process: warm up once, then run jobs until told to stop or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    state = WorkerState(slot=slot)
    try:
        try:
            state.warm_up()
        except Exception:
            pass  # the first job reports it as its own setup error
        while True:
            try:
                job = conn.recv()
            except (EOFError, OSError):
                break
            if job is None:
                break
            outcome = execute_job(job, state)
            try:
                conn.send(outcome)
            except (BrokenPipeError, OSError):
                break
    finally:
        state.close()


class _Slot:
    def __init__(self, ctx, index: int) -> None:
        self.index = index
        parent, child = ctx.Pipe(duplex=True)
        self.conn = parent
        self.process = ctx.Process(target=_worker_main, args=(child, index), name=f"halo-worker-{index}",
                                   daemon=True)
        self.process.start()
        child.close()
        self.job: EpisodeJob | None = None

    def stop(self, timeout: float = 10.0) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout)
        self.kill()

    def kill(self) -> None:
        """Terminate the process (then SIGKILL if it lingers) and close the pipe."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        self.conn.close()


class LocalExecutor:
    """A pool of ``workers`` processes on this machine.

    Each process imports HALO and loads the plugins once and keeps its backends (and
    the environments of suites that allow reuse) across episodes. A process that dies
    mid-episode is replaced and its episode becomes an error record.
    """

    def __init__(self, workers: int | None = None, *, start_method: str = "spawn", **_ignored: Any) -> None:
        self.workers = workers or default_workers()
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        self.start_method = start_method

    def map(self, jobs: Iterable[EpisodeJob], on_result: OnResult) -> None:
        pending = list(jobs)
        if not pending:
            return
        ctx = mp.get_context(self.start_method)
        pending.reverse()  # pop() from the end keeps the given order
        slots = [_Slot(ctx, i) for i in range(min(self.workers, len(pending)))]
        try:
            for slot in slots:
                self._give(slot, pending)
            while any(s.job is not None for s in slots):
                busy = [s for s in slots if s.job is not None]
                ready = wait_any([s.conn for s in busy] + [s.process.sentinel for s in busy])
                for i, slot in enumerate(list(slots)):
                    if slot.job is None or (slot.conn not in ready and slot.process.sentinel not in ready):
                        continue
                    status, outcome = self._collect(slot)
                    if status == "wait":
                        continue
                    job, slot.job = slot.job, None
                    if outcome is None:  # the process died without answering
                        slot.process.join(5)  # the pipe can close before the process is reaped
                        code = slot.process.exitcode
                        slot.kill()
                        outcome = failed_outcome(job, f"worker process died (exit code {code}) during this episode")
                        slots[i] = slot = _Slot(ctx, slot.index)
                    on_result(job, outcome)
                    self._give(slot, pending)
        except BaseException:
            for slot in slots:
                slot.kill()
            raise
        for slot in slots:
            slot.stop()

    @staticmethod
    def _give(slot: _Slot, pending: list[EpisodeJob]) -> None:
        if pending:
            slot.job = pending.pop()
            slot.conn.send(slot.job)

    @staticmethod
    def _collect(slot: _Slot) -> tuple[str, EpisodeOutcome | None]:
        """("ok", outcome), ("dead", None), or ("wait", None) when nothing is there yet."""
        alive = slot.process.is_alive()
        try:
            if slot.conn.poll(0 if alive else 0.5):  # a dead process may have answered just before
                return "ok", slot.conn.recv()
        except (EOFError, OSError):
            return "dead", None
        return ("wait", None) if alive else ("dead", None)


# --------------------------------------------------------------------------- ray


class _RayWorker:
    """The body of a Ray actor: a WorkerState living in the actor's process."""

    def __init__(self, slot: int) -> None:
        self.state = WorkerState(slot=slot)
        try:
            self.state.warm_up()
        except Exception:
            pass

    def run(self, job: EpisodeJob) -> EpisodeOutcome:
        return execute_job(job, self.state)

    def close(self) -> None:
        self.state.close()


class RayExecutor:
    """One Ray actor per worker. Without ``address`` a private local Ray instance is
    started (and shut down afterwards); with one, the existing cluster is used.

    The actors write trajectories on the node they run on: on a multi-node cluster,
    point ``--data-dir`` at shared storage.
    """

    def __init__(self, workers: int | None = None, address: str | None = None, *, num_cpus: int | None = None,
                 log_to_driver: bool = False, **_ignored: Any) -> None:
        self.workers = workers
        self.address = address
        self.num_cpus = num_cpus
        self.log_to_driver = log_to_driver

    def _init(self):
        import ray

        os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
        if ray.is_initialized():
            return ray, False
        kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=self.log_to_driver,
                                      configure_logging=False)
        if self.address:
            kwargs["address"] = self.address
        else:
            kwargs["num_cpus"] = self.num_cpus or self.workers or default_workers()
        ray.init(**kwargs)
        return ray, True

    def map(self, jobs: Iterable[EpisodeJob], on_result: OnResult) -> None:
        pending = list(jobs)
        if not pending:
            return
        ray, started = self._init()
        from ray.exceptions import RayActorError, RayError

        actor_cls = ray.remote(num_cpus=1, max_restarts=0)(_RayWorker)
        n = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        pending.reverse()
        actors = [actor_cls.remote(i) for i in range(min(n, len(pending)))]
        running: dict[Any, tuple[int, EpisodeJob]] = {}

        def give(index: int) -> None:
            if pending:
                job = pending.pop()
                running[actors[index].run.remote(job)] = (index, job)

        try:
            for i in range(len(actors)):
                give(i)
            while running:
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    index, job = running.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except RayActorError as exc:
                        outcome = failed_outcome(job, f"worker actor died during this episode: {exc}".splitlines()[0],
                                                 traceback.format_exc())
                        ray.kill(actors[index], no_restart=True)
                        actors[index] = actor_cls.remote(index)
                    except RayError as exc:
                        outcome = failed_outcome(job, f"{type(exc).__name__}: {exc}".splitlines()[0],
                                                 traceback.format_exc())
                    on_result(job, outcome)
                    give(index)
        finally:
            for actor in actors:
                try:
                    ray.get(actor.close.remote(), timeout=30)
                except Exception:
                    pass
                try:
                    ray.kill(actor)
                except Exception:
                    pass
            if started:
                ray.shutdown()


# --------------------------------------------------------------------------- threads


class ThreadExecutor:
    """``workers`` threads of this process, each with its own :class:`WorkerState`.

    For episodes whose cost is a model in this process: backends of the same model find it
    loaded once here (the ``local:`` backend batches calls that wait at the same time), where
    process workers would each load and run their own copy. Each thread keeps its own
    environments (Playwright runs one browser driver per thread). Jobs are run grouped by
    mode, so the episodes in flight share a config and its models.

    A thread keeps to one task while it has instances left: it takes the next pending
    instance of the task it just played (another seed of it, :func:`task_family`), else
    one of a task no other thread is playing, else the next job. An environment that can
    start an episode on the page it already shows then rarely reloads it.
    Which thread plays an episode changes nothing in it.
    """

    def __init__(self, workers: int | None = None, **_ignored: Any) -> None:
        self.workers = max(1, workers or 8)

    def map(self, jobs: Iterable[EpisodeJob], on_result: OnResult) -> None:
        import queue
        import threading

        pending = sorted(jobs, key=lambda job: job.config.mode)  # stable: one mode's episodes together
        if not pending:
            return
        lock, results, finished = threading.Lock(), queue.Queue(), threading.Event()
        total = len(pending)
        families = [_family(job) for job in pending]
        playing: dict[int, tuple] = {}  # slot -> the family of the job it plays

        def next_job(slot: int, last: tuple | None) -> EpisodeJob:
            pick = next_index(families, last, set(playing.values()))
            playing[slot] = families.pop(pick)
            return pending.pop(pick)

        def work(slot: int) -> None:
            state = WorkerState(slot=slot)
            last = None
            try:
                while True:
                    with lock:
                        if not pending:
                            playing.pop(slot, None)
                            break
                        job = next_job(slot, last)
                        last = playing[slot]
                    try:
                        outcome = execute_job(job, state)
                    except BaseException as exc:  # noqa: BLE001 — the run goes on; the episode records it
                        outcome = failed_outcome(job, f"{type(exc).__name__}: {exc}", traceback.format_exc())
                    results.put((job, outcome))
                # environments close once every episode is over: a browser session finds its
                # process among the Chromium processes started meanwhile, which in one process
                # may be another thread's, and closing kills that process
                finished.wait()
            finally:
                state.close()

        threads = [threading.Thread(target=work, args=(i,), name=f"halo-episode-{i}", daemon=True)
                   for i in range(min(self.workers, total))]
        for thread in threads:
            thread.start()
        try:
            for _ in range(total):
                on_result(*results.get())
        finally:
            finished.set()
            for thread in threads:
                thread.join(60)


def task_family(task) -> str:
    """The task a job plays an instance of: its id less ``@<seed>`` when it names a seed
    (``suite.click-button@3`` → ``suite.click-button``), else the id."""
    if task.seed is not None and task.id.endswith(f"@{task.seed}"):
        return task.id[: -len(f"@{task.seed}")]
    return task.id


def next_index(families: list[tuple], last: tuple | None, busy: set) -> int:
    """Which pending job a thread of :class:`ThreadExecutor` takes, by their ``(mode, suite,
    family)`` keys in run order: the first of the family it just played, else the first of
    the head's mode whose family no thread is playing, else the head."""
    if last is not None:
        for i, family in enumerate(families):
            if family == last:
                return i
    mode = families[0][0]
    return next((i for i, f in enumerate(families) if f[0] == mode and f not in busy), 0)


def _family(job: EpisodeJob) -> tuple:
    return (job.config.mode, job.task.suite, task_family(job.task))


register_executor("local", LocalExecutor)
register_executor("ray", RayExecutor)
register_executor("threads", ThreadExecutor)
