"""DataLoader worker processes, as torch.utils.data's: one process per worker, fed batches
of indices round-robin (batch i goes to worker i % N), results put back in batch order.

Each worker runs one kernel thread (``kiln.set_num_threads(1)``: N workers would otherwise
start N thread teams on the same cores), is seeded as PyTorch seeds its workers (the parent
draws a base seed each epoch; worker k seeds kiln, ``random`` and NumPy's global generator
from base_seed + k, then calls ``worker_init_fn(k)``), and can ask ``get_worker_info()``
who it is. An exception in a worker is raised in the parent with the same type and the
worker's traceback in its message; a worker that dies is a RuntimeError naming its pid and
exit code. Workers stop when the iterator is exhausted, dropped or fails, and on their own
when the parent process is gone.
"""

from __future__ import annotations

import os
import pickle
import queue
import random
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler

import numpy as np

_POLL_S = 1.0  # how often a waiting parent checks its workers are alive, and a worker its parent
_JOIN_S = 5.0  # how long shutdown waits for a worker to finish before terminating it


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker: its id, the number of workers,
    its seed, and its copy of the dataset."""

    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker, its WorkerInfo; in the main process, None (as torch)."""
    return _worker_info


class _WorkerError:
    """An exception caught in a worker, carried to the parent as its type and traceback text."""

    def __init__(self, worker_id: int, where: str):
        exc_type, exc, tb = sys.exc_info()
        self.exc_type = exc_type
        caught = " ".join(filter(None, ("Caught", exc_type.__name__, where)))
        self.message = (f"{caught} in DataLoader worker process {worker_id}.\n"
                        "Original " + "".join(traceback.format_exception(exc_type, exc, tb)))

    def reraise(self):
        try:
            error = self.exc_type(self.message)
        except Exception:  # an exception type that takes other arguments
            error = RuntimeError(self.message)
        raise error


def _dumps(index: int, result, worker_id: int) -> bytes:
    """The pickled (index, result), pickled here so that an unpicklable result is an error the
    parent sees (a Queue pickles in a background thread, which would only print it)."""
    try:
        return bytes(ForkingPickler.dumps((index, result)))
    except Exception:
        error = _WorkerError(worker_id, "while sending a batch")
        if not _picklable(error.exc_type):
            error.exc_type = RuntimeError
        return bytes(ForkingPickler.dumps((index, error)))


def _picklable(obj) -> bool:
    try:
        pickle.dumps(obj)
        return True
    except Exception:
        return False


def _seed_worker(seed: int) -> None:
    from .. import set_num_threads
    from ..random import manual_seed
    set_num_threads(1)
    manual_seed(seed)
    random.seed(seed)
    np.random.seed(np.random.SeedSequence(seed).generate_state(4))


def _worker_loop(fetch, index_queue, result_queue, worker_id: int, num_workers: int, seed: int,
                 worker_init_fn, parent_pid: int) -> None:
    """A worker's life: seed, init, then fetch each batch of indices until told to stop (None)."""
    global _worker_info
    try:
        _seed_worker(seed)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, fetch.dataset)
        init_error = None
        if worker_init_fn is not None:
            try:
                worker_init_fn(worker_id)
            except Exception:
                init_error = _WorkerError(worker_id, "in worker_init_fn")
        while True:
            try:
                task = index_queue.get(timeout=_POLL_S)
            except queue.Empty:
                if os.getppid() != parent_pid:  # the parent is gone: nobody will read our results
                    break
                continue
            if task is None:
                break
            index, indices = task
            if init_error is not None:
                result = init_error
            else:
                try:
                    result = fetch(indices)
                except Exception:
                    result = _WorkerError(worker_id, "")
            result_queue.put(_dumps(index, result, worker_id))
    except KeyboardInterrupt:  # the parent gets it too and shuts the workers down
        pass
    # Whatever is still unread is not wanted: exit without waiting for the pipe to drain.
    result_queue.cancel_join_thread()


class WorkerIterator:
    """One epoch over ``batches`` (arrays of indices) fetched by ``num_workers`` processes."""

    def __init__(self, fetch, batches: list, num_workers: int, context, worker_init_fn, base_seed: int,
                 prefetch_factor: int, timeout: float):
        self._batches, self._timeout = batches, timeout
        self._next = 0  # the batch returned next
        self._sent = 0  # batches handed to workers so far
        self._ready: dict = {}
        self._closed = False
        self._result_queue = context.Queue()
        self._index_queues, self._workers = [], []
        try:
            for worker_id in range(num_workers):
                index_queue = context.Queue()
                worker = context.Process(
                    target=_worker_loop, daemon=True,
                    args=(fetch, index_queue, self._result_queue, worker_id, num_workers, base_seed + worker_id,
                          worker_init_fn, os.getpid()))
                worker.start()
                self._index_queues.append(index_queue)
                self._workers.append(worker)
            for _ in range(prefetch_factor * num_workers):
                self._send()
        except BaseException:
            self.close()
            raise

    def __iter__(self):
        return self

    def __len__(self) -> int:
        return len(self._batches)

    def _send(self) -> None:
        if self._sent < len(self._batches):
            worker = self._sent % len(self._workers)
            self._index_queues[worker].put((self._sent, self._batches[self._sent]))
            self._sent += 1

    def __next__(self):
        if self._next >= len(self._batches) or self._closed:
            self.close()
            raise StopIteration
        while self._next not in self._ready:
            index, result = self._receive()
            self._ready[index] = result
        result = self._ready.pop(self._next)
        self._next += 1
        if isinstance(result, _WorkerError):
            self.close()
            result.reraise()
        self._send()
        return result

    def _receive(self):
        start = time.monotonic()
        while True:
            wait = _POLL_S if not self._timeout else min(_POLL_S, self._timeout - (time.monotonic() - start))
            try:
                return pickle.loads(self._result_queue.get(timeout=max(wait, 0.0)))
            except queue.Empty:
                pass
            dead = [w for w in self._workers if not w.is_alive()]
            if dead:
                self.close()
                raise RuntimeError(f"DataLoader worker (pid {dead[0].pid}) exited unexpectedly with exit code "
                                   f"{dead[0].exitcode}" + (" (killed by a signal)" if (dead[0].exitcode or 0) < 0
                                                            else ""))
            if self._timeout and time.monotonic() - start >= self._timeout:
                self.close()
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds waiting for batch "
                                   f"{self._next} from worker {self._next % len(self._workers)}")

    def close(self) -> None:
        """Stop the workers (each finishes the batch it is on), and free the queues."""
        if self._closed:
            return
        self._closed = True
        for index_queue in self._index_queues:
            try:
                index_queue.put(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + _JOIN_S
        for worker in self._workers:
            worker.join(timeout=max(deadline - time.monotonic(), 0.0))
        for worker in self._workers:
            if worker.is_alive():
                worker.terminate()
                worker.join()
        for q in (*self._index_queues, self._result_queue):
            q.cancel_join_thread()
            q.close()
        self._ready.clear()

    def __del__(self):
        if hasattr(self, "_result_queue"):
            self.close()
