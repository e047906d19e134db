"""Fused training for gradfit.train_many: jobs that share their data and the
shape of their run are trained together, each minibatch gathered once and
every model's step on it taken in one C call (csrc/fused.inc).

Each job still runs its own Trainer and its own Run (gradfit._loop: history,
schedules, early stopping, callbacks, checkpoints, Ctrl-C, divergence
recovery), in a thread of its own that only does that bookkeeping. Its C
calls go to a Fuser instead of the C core: once every job still running is
waiting on a call, the Fuser groups the calls that can be fused (the same
net, dtype, loss, optimizer, batch, rows and epoch orders, the same point in
the epoch) and makes one C call per group, in the thread that called
train_many (or split over n_jobs threads). The C core takes each model's
step with the code and in the order of training it alone, so every job's
parameters, history and stop reason are those of gradfit.train, bit for bit.
The epoch orders are drawn once for all the jobs: a draw another job made
from the same generator state is reused (OrderCache).
"""
from __future__ import annotations

import collections
import functools
import threading
import time

import numpy as np

from . import _core, _fused_set
from ._array_run import ArrayRun
from ._loop import Interrupted, catch_sigint, restore_sigint
from ._runners import CRunner
from ._targets import check_targets
from ._validate import FOUND_FINITE, _where, check_X
from .result import TrainResult
from .trainer import RUN_HOOK, Trainer

__all__ = ["Fuser", "fused_key", "grid", "run_fused", "run_together"]

# The options of gradfit.train that are arguments of Trainer.fit, not settings.
_FIT_OPTIONS = ("epochs", "sample_weight", "max_steps", "grad_tol")


class OrderCache:
    """Epoch orders drawn by one job, for the others: keyed by the
    generator's state before the draw and what was drawn, so a hit is the
    same draw by construction; the few newest draws are kept. (Fused runs
    never move rows: FusedArrayRun._rows_to_move.)"""

    KEEP = 4

    def __init__(self, fuser) -> None:
        self.fuser = fuser
        self.lock = threading.Lock()
        self.entries: collections.OrderedDict = collections.OrderedDict()

    def draw(self, orders, k, move):
        if move:                       # not asked by fused runs: drawn by the job itself
            return orders._draw(k, None, move)
        key = (_state_key(orders.rng.bit_generator.state), orders.N, k, orders.mode, orders.chunk_rows,
               orders.window_chunks)
        with self.lock:                # one job draws, the others wait and take its draw
            hit = self.entries.get(key)
            if hit is None:
                idx = orders._draw(k, None, False)
                hit = (orders.rng.bit_generator.state, idx.copy())
                self.entries[key] = hit
                while len(self.entries) > self.KEEP:
                    self.entries.popitem(last=False)
        orders.rng.bit_generator.state = hit[0]
        orders.lazy = None
        return hit[1]


def _state_key(state):
    """A generator's state (bit_generator.state) as a dict key: PCG64's
    numbers as they are (the common case), any other as its repr."""
    inner = state.get("state")
    if state.get("bit_generator") == "PCG64" and isinstance(inner, dict) and len(state) == 4 and len(inner) == 2:
        return ("PCG64", inner["state"], inner["inc"], state["has_uint32"], state["uinteger"])
    return repr(state)


class SameData:
    """An id per distinct content of the arrays the jobs train on: arrays
    with the same bytes (a fold's y standardized again by each estimator,
    say) get the same id, so their calls fuse; each array is compared once
    and kept (so that its address is not reused)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: dict = {}            # (address, shape, strides, dtype) -> id
        self.kept: list = []           # (array, id)
        self.objects: dict = {}        # id(array) -> (array, id): the same object again, found at once

    def id(self, a):
        hit = self.objects.get(id(a))
        if hit is not None and hit[0] is a:
            return hit[1]
        found = self._id(a)
        with self.lock:
            self.objects[id(a)] = (a, found)
        return found

    def _id(self, a):
        key = (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)
        with self.lock:
            found = self.ids.get(key)
            if found is not None:
                return found
            for b, i in self.kept:
                if b.shape == a.shape and b.dtype == a.dtype and b.tobytes() == a.tobytes():
                    found = i
                    break
            if found is None:
                found = len(self.kept)
            self.ids[key] = found
            self.kept.append((a, found))
        return found


class _Call:
    """One job's C call, waiting to be made."""

    __slots__ = ("runner", "args", "key", "result", "error", "done")

    def __init__(self, runner, args):
        self.runner, self.args = runner, args
        self.result = self.error = None
        self.done = None               # an Event for a job's thread that waits on the call (Fuser.submit)
        self.key = runner.fuse_key(*args)


class _FusedRunner:
    """A CRunner whose run() waits for the Fuser to make the call."""

    def __init__(self, inner: CRunner, fuser: Fuser, run: FusedArrayRun) -> None:
        self.inner, self.fuser, self.job_index = inner, fuser, run.job_index
        self.static = None             # the part of fuse_key fixed for the run, made on its first call
        fuser.register(run)

    def reset_prev(self):
        self.inner.reset_prev()

    def full_grad_norm(self):
        return self.inner.full_grad_norm()

    def run(self, idx, n_epochs, start_batch, lrs, max_batches, max_steps, grad_tol, acc, data=None):
        return self.fuser.submit(_Call(self, (idx, n_epochs, start_batch, lrs, max_batches, max_steps, grad_tol,
                                              acc, data)))

    def fuse_key(self, idx, n_epochs, start_batch, lrs, max_batches, max_steps, grad_tol, acc, data):
        """What calls fused together share (None: this call runs alone)."""
        if n_epochs < 1:
            return None
        if data is not None:           # rows moved by the epoch's draw (never in fused runs)
            return None
        if self.static is None:
            r, m = self.inner, self.inner.m
            self.static = (_net_key(m), m.dtype.str, r.loss_id, r.optim_id, r.batch, r.session.rows,
                           self.fuser.same.id(r.X), self.fuser.same.id(r.y))
        return (self.static, max_batches, n_epochs, start_batch, idx.__array_interface__["data"][0], idx.shape)

    def model_entry(self, call):
        """The model's tuple for _core.train_fused."""
        idx, n_epochs, start_batch, lrs, max_batches, max_steps, grad_tol, acc, data = call.args
        r, t = self.inner, self.inner.t
        sw = r.sw
        return (r.m.params, r.grad, t.state, r.session, sw, lrs, t.step_count, acc, max_steps, grad_tol,
                r.hyper)


class Fuser:
    """Makes the jobs' C calls: waits until every running job waits on one,
    then makes them, fused by group. Runs in the thread of train_many."""

    def __init__(self, n_jobs: int, n_threads: int) -> None:
        self.cond = threading.Condition()
        self.live, self.n_threads = n_jobs, n_threads
        self.pending: list[_Call] = []
        self.runs: list[ArrayRun] = []
        self.groups: dict[int, set[frozenset]] = {}    # job index -> the groups of jobs fused with it
        self.distinct: dict[frozenset, frozenset] = {}
        self.aborted = False
        self.targets: dict = {}                    # checked X and y shared by the jobs (_shared_targets)
        self.pairs: dict = {}                      # the same, by the pair of objects given (_shared_targets)
        self.finite: dict = {}                     # _validate.FOUND_FINITE for the jobs' threads
        self.bounds: dict = {}                     # the data's largest values (Run._data_bounds), per X and y
        self.order_cache = OrderCache(self)
        self.same = SameData()

    def register(self, run):
        with self.cond:
            self.runs.append(run)

    def submit(self, call: _Call):
        call.done = threading.Event()
        with self.cond:
            if self.aborted:
                raise KeyboardInterrupt
            self.pending.append(call)
            if len(self.pending) >= self.live:
                self.cond.notify()         # only serve() waits on cond: the jobs wait on their call
        call.done.wait()
        if call.error is not None:
            raise call.error
        return call.result

    def finished(self):
        with self.cond:
            self.live -= 1
            self.cond.notify()

    def serve(self):
        """Makes the calls until every job has finished."""
        previous = self._catch_sigint()
        try:
            while True:
                with self.cond:
                    while self.live > 0 and len(self.pending) < self.live:
                        self.cond.wait(0.05)         # a timeout: Ctrl-C's handler runs in this thread
                    if self.live == 0:
                        return
                    calls, self.pending = self.pending, []
                self._make(calls)
                for c in calls:
                    c.done.set()
        except BaseException:
            with self.cond:              # a second Ctrl-C: every job's waiting call raises
                self.aborted = True
                for c in self.pending:
                    c.error = KeyboardInterrupt()
                    c.done.set()
                self.pending = []
            raise
        finally:
            restore_sigint(previous)

    def _catch_sigint(self):
        """A first Ctrl-C asks every job's run to stop (as in train()); a
        second interrupts at once."""
        def repeat():
            with self.cond:
                runs = list(self.runs)
            if runs and all(r.interrupted for r in runs):
                return True
            for r in runs:
                r.interrupted = True
            return False

        return catch_sigint(repeat)

    def _make(self, calls: list[_Call]) -> None:
        by_key: dict = {}
        singles: list = []
        for c in calls:
            (singles if c.key is None else by_key.setdefault(c.key, [])).append([c])
        units = [u for u in singles]
        for group in by_key.values():
            members = [g[0] for g in group]
            if len(members) > 1:       # one set object per distinct group, each job's set of them
                indices = frozenset(c.runner.job_index for c in members)
                indices = self.distinct.setdefault(indices, indices)
                for i in indices:
                    self.groups.setdefault(i, set()).add(indices)
            parts = min(self.n_threads, len(members))
            units += [members[p::parts] for p in range(parts)]
        if self.n_threads > 1 and len(units) > 1:
            threads = [threading.Thread(target=self._make_units, args=(units[p::self.n_threads],), daemon=True)
                       for p in range(min(self.n_threads, len(units)))]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        else:
            self._make_units(units)

    @staticmethod
    def _make_units(units):
        for unit in units:
            try:
                if len(unit) == 1:
                    c = unit[0]
                    c.result = c.runner.inner.run(*c.args)
                    continue
                _fused_call(unit)
            except Exception as exc:        # noqa: BLE001 - reported to each job of the unit
                for c in unit:
                    c.error = exc


def _fused_call(unit: list[_Call]) -> None:
    """One C call for the calls of `unit` (one fuse key)."""
    first = unit[0]
    r = first.runner.inner
    idx, n_epochs, start_batch, lrs, max_batches, *_rest = first.args
    X, y = r.X, r.y
    m = r.m
    out = _core.train_fused(m._net.sizes, m._net.acts, r.loss_id, r.optim_id, r.batch, r.session.rows,
                            max_batches, X, y, idx, n_epochs, start_batch,
                            [c.runner.model_entry(c) for c in unit], n_threads=r.t.n_threads)
    for c, res in zip(unit, out):
        c.result = res


class FusedArrayRun(ArrayRun):
    """An ArrayRun whose C calls go through a Fuser."""

    def __init__(self, trainer, *args, fuser: Fuser, job_index: int, direct: bool = False):
        trainer._order_cache = fuser.order_cache
        super().__init__(trainer, *args)
        self.job_index = job_index
        self.fused = None
        if isinstance(self.runner, CRunner):
            self.fused = _FusedRunner(self.runner, fuser, self)
            if not direct:             # its calls wait for the Fuser (run_together's threads)
                self.runner = self.fused

    def _catch_sigint(self):
        return None                # the Fuser's handler sets self.interrupted

    def _data_bounds(self):
        """As Run's, read once for all the jobs that share X and y."""
        key = (id(self.X), id(self.y))
        fuser = self.fused.fuser if self.fused is not None else None
        if fuser is None:
            return super()._data_bounds()
        with fuser.cond:
            hit = fuser.bounds.get(key)
        if hit is None or hit[0] is not self.X or hit[1] is not self.y:
            hit = (self.X, self.y, super()._data_bounds())
            with fuser.cond:
                fuser.bounds[key] = hit
        return hit[2]

    def _rows_to_move(self):
        """None: fused runs train through the epoch's order (the same bits
        as on a moved copy). The fused call gathers each block of rows once
        for all its models, so a shuffled copy would save nothing, and it
        would cost every job a C call per epoch and an order buffer."""
        return None

    def result(self):
        try:
            return super().result()
        finally:
            self.t._order_cache = None


def _net_key(model):
    return model._net.sizes.tobytes(), model._net.acts.tobytes()


def fused_key(job) -> tuple | None:
    """What jobs trained together must share before they start (None: this
    job trains alone): the same X and y objects, net, dtype, loss, optimizer
    kind, batch size, epochs and shuffle seed, on the C backend. Calls are
    fused only when they also match at run time (_FusedRunner.fuse_key)."""
    o = job.options
    if job.target is not None or job.rows is not None or not isinstance(job.X, np.ndarray) \
            or isinstance(job.X, np.memmap) or o.get("backend", "c") != "c":
        return None
    seed = o.get("seed")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        return None
    opt = o.get("optimizer", "sgd")
    opt = opt if isinstance(opt, str) else getattr(opt, "name", None)
    try:
        key = (id(job.X), id(job.y), _net_key(job.model), np.dtype(job.model.dtype).str, o.get("loss", "mse"), opt,
               o.get("batch_size", 32), o.get("epochs"), int(seed), o.get("shuffle"))
        hash(key)
    except TypeError:
        return None
    return key


class _Driven:
    """One job driven by run_fused: its Trainer, its Run, the Run's C calls
    (ArrayRun._calls) and the arguments of the call it waits on."""

    __slots__ = ("index", "job", "start", "trainer", "run", "calls", "args", "locked", "adopt")

    def __init__(self, index, job, shared, fuser, adopt=None):
        self.index, self.job, self.start = index, job, time.perf_counter()
        self.run = self.calls = None
        self.locked = False
        self.adopt = adopt             # trained in a set (gradfit._fused_set): its answer, taken by _adopt
        if adopt is not None:
            job.model.params[...] = adopt.initial      # the run starts from the parameters the set started from
        dtype = job.model.dtype
        X, y = shared.get(job.X, dtype, "X"), shared.get(job.y, dtype, "y")
        o = job.options
        self.trainer = t = Trainer(job.model, **{k: v for k, v in o.items() if k not in _FIT_OPTIONS})
        X, y, checked = _shared_targets(fuser, X, y, job.model, t.loss)
        limits = t._fit_limits(o.get("epochs"), o.get("max_steps"), o.get("grad_tol"))
        make = t._array_run(X, y, o.get("sample_weight"), *limits, self.start,
                            run_class=functools.partial(FusedArrayRun, fuser=fuser, job_index=index, direct=True),
                            checked=checked)
        t._lock()
        self.locked = True
        try:
            self.run = make()
            self.calls = self.run._calls()
        except BaseException:
            self.close()
            raise

    def step(self, answer=None, error=None):
        """Sends the Run its call's answer (or error); False when the Run has
        ended (then finish() gives its result)."""
        try:
            if error is not None:
                self.args = self.calls.throw(error)
            else:
                self.args = self.calls.send(answer) if answer is not None else next(self.calls)
        except StopIteration:
            return False
        return True

    def finish(self):
        """The job's TrainResult, as gradfit.train returns it."""
        try:
            if self.run.bar is not None:
                self.run.bar.close()
            result = self.run._conclude()
        finally:
            self.close()
        seen = result.samples_per_second * result.seconds
        result.seconds = time.perf_counter() - self.start
        result.samples_per_second = seen / result.seconds if result.seconds > 0 else float("inf")
        return result

    def close(self):
        """Gives back the epoch orders and the model's lock."""
        run, self.calls = self.run, None
        if run is not None and run.orders is not None:
            run.orders.release()
            run.orders = None
        self.trainer._order_cache = None
        if self.locked:
            self.locked = False
            self.trainer._unlock()


def _drive(jobs, shared, fuser, done, sets=None):
    """Trains `jobs` in this thread: each Run runs until it waits on a C
    call, then the Fuser makes every waiting call (fused by group) and each
    Run goes on with its answer, until every Run has ended. sets: the jobs
    trained as sets ({position: TrainResult}, {position: Adopt}). Returns
    the results (TrainResult or exception) in order."""
    results: list = [None] * len(jobs)
    live: list[_Driven] = []
    finished, adopt = sets if sets is not None else ({}, {})

    def end(d, result):
        results[d.index] = result
        if done is not None:
            done(result)

    previous = fuser._catch_sigint()
    FOUND_FINITE.arrays = fuser.finite
    try:
        for i, job in enumerate(jobs):
            if i in finished:
                end(_Skipped(i), finished[i])
                continue
            try:
                live.append(_Driven(i, job, shared, fuser, adopt.get(i)))
            except Exception as exc:       # noqa: BLE001 - the job's error is its result
                end(_Skipped(i), exc)
        live = _advance(live, [None] * len(live), [None] * len(live), end)
        live = _adopt(live, end)
        live = _serve_driven(live, fuser, end)
    finally:
        FOUND_FINITE.arrays = None
        restore_sigint(previous)
        for d in live:                 # a second Ctrl-C: every model stays at its last completed step
            d.close()
    return results


def _adopt(waiting, end):
    """The Runs of jobs a set trained take the set's answer to their first
    call (their model, step count and epoch sums set to what the call left),
    as if they had made it; a Run whose first call is not the set's trains
    as any other, from the set's starting parameters. Returns the Runs
    waiting on a call."""
    taken, answers, rest = [], [], []
    for d in waiting:
        a, d.adopt = d.adopt, None
        if a is None or not _is_set_call(d.args, a):
            rest.append(d)
            continue
        acc = d.args[7]
        d.job.model.params[...] = a.params
        d.trainer.step_count[0] = a.count
        for column_, value in zip(acc, a.sums):
            column_[...] = value
        d.run.interrupted = a.interrupted
        taken.append(d)
        answers.append(a.answer)
    return rest + _advance(taken, answers, [None] * len(taken), end)


def _is_set_call(args, a):
    """Whether a Run's call `args` is the one the set made for it (Adopt `a`)."""
    idx, n_epochs, start_batch, lrs, max_batches, max_steps, grad_tol, acc, data = args
    return (data is None and start_batch == 0 and max_steps == -1 and not grad_tol and n_epochs == len(a.lrs)
            and max_batches == a.max_batches and np.array_equal(lrs, a.lrs) and len(acc[0]) == n_epochs)


def _serve_driven(waiting, fuser, end):
    """_drive's loop: makes the waiting calls and passes on the answers."""
    while waiting:
        calls = [(_Call(d.run.fused, d.args) if d.run.fused is not None else None) for d in waiting]
        fuser._make([c for c in calls if c is not None])
        answers, errors = [], []
        for d, c in zip(waiting, calls):
            if c is None:
                try:
                    answers.append(d.run.runner.run(*d.args))
                    errors.append(None)
                except Exception as exc:    # noqa: BLE001 - given to the job's Run, as its own call would
                    answers.append(None)
                    errors.append(exc)
                continue
            answers.append(c.result)
            errors.append(c.error)
        waiting = _advance(waiting, answers, errors, end)
    return waiting


class _Skipped:
    """A job that failed before its Run began (only its index is needed)."""

    def __init__(self, index):
        self.index = index


def _advance(driven, answers, errors, end):
    """Each Run of `driven` takes its answer and runs to its next call;
    returns those that wait on one (the others have ended: end(d, result))."""
    waiting = []
    for k, d in enumerate(driven):
        try:
            if d.step(answers[k], errors[k]):
                waiting.append(d)
                continue
            result = d.finish()
        except Interrupted as exc:          # after Ctrl-C: the job's partial result
            d.close()
            result = exc
        except Exception as exc:            # noqa: BLE001 - the job's error is its result
            d.close()
            result = exc
        end(d, result)
    return waiting


def run_together(tasks, n_threads, done=None):
    """Runs each task (a callable taking the Fuser) in a thread of its own,
    every Trainer.fit on arrays there training through one Fuser; returns
    their results or exceptions in order. done(result) is called as each
    ends. Raises KeyboardInterrupt (the first task's, with ``results``: every
    task's, a partial TrainResult for an interrupted one) after Ctrl-C."""
    fuser = Fuser(len(tasks), n_threads)
    results: list = [None] * len(tasks)

    def worker(i, task):
        RUN_HOOK.run_class = lambda *a: FusedArrayRun(*a, fuser=fuser, job_index=i)
        try:
            results[i] = task(fuser)
        except BaseException as exc:       # noqa: BLE001 - Ctrl-C's Interrupted is a task's result too
            results[i] = exc
        finally:
            RUN_HOOK.run_class = None
            FOUND_FINITE.arrays = None
            fuser.finished()
            if done is not None:
                done(results[i])

    threads = [threading.Thread(target=worker, args=(i, task), daemon=True, name=f"gradfit-fused-{i}")
               for i, task in enumerate(tasks)]
    for th in threads:
        th.start()
    try:
        fuser.serve()
    finally:
        for th in threads:
            th.join()
    return _fused_results(results, fuser)


def _fused_results(results, fuser):
    """Sets each result's fused_with (the other jobs' indices); raises the
    first KeyboardInterrupt among them, with ``results``."""
    memo: dict = {}
    for i, r in enumerate(results):
        together = _together(fuser.groups.get(i, ()), memo)
        if isinstance(r, TrainResult):
            r.fused_with = together
        elif isinstance(r, KeyboardInterrupt) and isinstance(getattr(r, "result", None), TrainResult):
            r.result.fused_with = together
    stopped = [r for r in results if isinstance(r, KeyboardInterrupt)]
    if stopped:
        first = stopped[0]
        first.results = [getattr(r, "result", r) if isinstance(r, KeyboardInterrupt) else r for r in results]
        raise first
    return results


def _together(groups, memo):
    """The sorted indices of the jobs in `groups` (a set of frozensets),
    one tuple per distinct value (memo)."""
    key = frozenset(groups)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = tuple(sorted(frozenset().union(*groups)))
    return hit


def _renumber(results, jobs):
    """Each result's fused_with in the jobs' own indices (one tuple per distinct value)."""
    memo: dict = {}
    for r in results:
        if isinstance(r, TrainResult):
            hit = memo.get(r.fused_with)
            if hit is None:
                hit = memo[r.fused_with] = tuple(jobs[i].index for i in r.fused_with)
            r.fused_with = hit


def run_fused(jobs, n_threads, progress, shared, keys=None):
    """Trains train_many's `jobs` (two or more) together; returns their
    results (TrainResult or Exception) in order, each result's fused_with
    naming the jobs' own indices. keys: each job's fused_key, if known.
    Ctrl-C: as run_together."""
    fuser = Fuser(len(jobs), n_threads)
    try:
        sets = _train_sets(jobs, shared, fuser, n_threads, keys)
        results = _fused_results(_drive(jobs, shared, fuser, lambda r: progress.update(not isinstance(r, BaseException)),
                                        sets), fuser)
    except KeyboardInterrupt as stop:        # (a second Ctrl-C's has no results)
        _renumber(getattr(stop, "results", ()), jobs)
        raise
    _renumber(results, jobs)
    return results


def _train_sets(jobs, shared, fuser, n_threads, keys=None):
    """The plain jobs (gradfit._fused_set.plain_job) that share a fused_key
    (keys[i]: job i's, if known), trained as sets: ({position:
    TrainResult}, {position: Adopt}); each set's jobs are recorded as fused
    together."""
    by_key: dict = {}
    for pos, job in enumerate(jobs):
        if _fused_set.plain_job(job):
            key = fused_key(job) if keys is None else keys[pos]
            if key is not None:
                by_key.setdefault(key, []).append((pos, job))
    finished: dict = {}
    adopt: dict = {}
    for group in by_key.values():
        if len(group) < 2:
            continue
        out, adopted, _left = _fused_set.train_set(group, shared, n_threads)
        together = frozenset(list(out) + [a.pos for a in adopted])
        if len(together) > 1:
            for i in together:
                fuser.groups.setdefault(i, set()).add(together)
        finished.update(out)
        adopt.update((a.pos, a) for a in adopted)
    return finished, adopt


def _shared_targets(fuser, X, y, model, loss):
    """(X, y, checked): X and y checked as Trainer.fit checks them, once for
    all the jobs that share them (one converted y for all: their rows are
    one), and marked as found finite for this thread's fit; checked is
    False when a check failed (then the originals are given back: fit()
    reports it)."""
    FOUND_FINITE.arrays = fuser.finite
    dtype = model.dtype.str
    pair = (id(X), id(y), dtype, model.n_inputs, model.n_outputs, loss)
    hit = fuser.pairs.get(pair)        # the same X and y objects as an earlier job's: its checked arrays
    if hit is not None and hit[0] is X and hit[1] is y:
        return hit[2], hit[3], True
    try:
        Xc = _once(fuser, ("X", id(X), dtype, model.n_inputs), X,
                   lambda: check_X(X, model.n_inputs, model.dtype))
        yc = _once(fuser, ("y", id(y), id(Xc), dtype, loss, model.n_outputs), y,
                   lambda: check_targets(y, Xc.shape[0], model, loss))
    except (TypeError, ValueError):
        return X, y, False
    with fuser.cond:
        fuser.pairs[pair] = (X, y, Xc, yc)
    return Xc, yc, True


def _once(fuser, key, original, check):
    """check()'s array, computed once per key (the original kept alive, so
    that its id stays unique), and marked as found finite."""
    with fuser.cond:
        hit = fuser.targets.get(key)
    if hit is None:
        hit = (original, check())
        with fuser.cond:
            hit = fuser.targets.setdefault(key, hit)
            fuser.finite[_where(hit[1])] = hit[1]
    return hit[1]


def grid(model_factory, X, y, *, lr, seed=None, **common):
    """Jobs for :func:`gradfit.train_many`: one model per learning rate and
    (initial-weight) seed, all on the same X and y.

    Parameters
    ----------
    model_factory : callable
        ``model_factory(seed)`` (or ``model_factory()`` when ``seed`` is None)
        returns a new :class:`gradfit.MLP`.
    X, y : array_like
        The data every job trains on (shared, never copied per job).
    lr : sequence of float
        The learning rates.
    seed : sequence of int, optional
        The seeds given to ``model_factory``: each model's initial weights.
    **common
        Keywords of :func:`gradfit.train` for every job. The shuffle seed
        (``seed`` of gradfit.train) is ``shuffle_seed`` here, 0 by default:
        jobs with the same one visit the rows in the same order and are
        trained together (fused) by train_many.

    Returns
    -------
    list of dict
        One job per (seed, lr), seeds outermost.

    Examples
    --------
    >>> import numpy as np, gradfit as gf
    >>> X = np.linspace(0, 1, 100).reshape(-1, 1); y = X[:, 0] ** 2
    >>> jobs = gf.grid(lambda s: gf.MLP([1, 2, 1], activation="softplus", seed=s), X, y,
    ...                lr=[0.01, 0.1], seed=[0, 1], epochs=2)
    >>> [r.fused_with for r in gf.train_many(jobs)][0]
    (0, 1, 2, 3)
    """
    if not callable(model_factory):
        raise TypeError(f"model_factory: expected a callable returning a gradfit.MLP, got "
                        f"{type(model_factory).__name__}")
    lrs = _as_list(lr, "lr")
    seeds = [None] if seed is None else _as_list(seed, "seed")
    if "seed" in common or "model" in common or "X" in common or "y" in common:
        raise TypeError("common options: 'seed', 'model', 'X' and 'y' are grid()'s own; give the shuffle "
                        "seed as shuffle_seed=...")
    shuffle_seed = common.pop("shuffle_seed", 0)
    jobs = []
    for s in seeds:
        for rate in lrs:
            model = model_factory() if s is None else model_factory(s)
            jobs.append({"model": model, "X": X, "y": y, "lr": rate, "seed": shuffle_seed, **common})
    return jobs


def _as_list(values, name):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name}: expected a list of values, got {type(values).__name__} {values!r}")
    out = list(values)
    if not out:
        raise ValueError(f"{name}: expected at least one value, got an empty list")
    return out
