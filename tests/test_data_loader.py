"""kiln.utils.data.DataLoader with worker processes: order, seeding, errors, shutdown, fork safety.

Every test that starts workers passes ``timeout=`` to the loader, so a stuck worker is a
RuntimeError, not a hung test run; the fork-after-threads test runs in a subprocess with a
hard limit as well, since a hang there would be in native code.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import kiln
from kiln import ops
from kiln.utils.data import DataLoader, Dataset, Subset, TensorDataset, get_worker_info

LIMIT_S = 60  # no loader in these tests needs more than a second or two
METHODS = ["fork", "spawn"]


class Squares(Dataset):
    """Sample i is (i, i*i) as NumPy scalars: the default collate stacks them into Tensors."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.float32(i), np.int64(i * i)


class WhoMadeIt(Dataset):
    """Sample i records the worker that made it, its seed, its kernel threads and random draws
    from kiln's, Python's and NumPy's generators."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return np.array([i, info.id, info.seed % 2**31, info.num_workers, kiln.get_num_threads(),
                         kiln.random.generator().integers(2**31), random.getrandbits(31),
                         np.random.randint(2**31)], np.int64)


class FailsAt(Dataset):
    def __init__(self, bad: int):
        self.bad = bad

    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == self.bad:
            raise ValueError(f"sample {i} is unreadable")
        return np.float32(i)


class DiesAt(FailsAt):
    def __getitem__(self, i):
        if i == self.bad:
            os._exit(3)
        return np.float32(i)


class MatmulSamples(Dataset):
    """Each sample runs a kernel big enough to be threaded were the worker allowed threads."""

    def __len__(self):
        return 6

    def __getitem__(self, i):
        a = np.full((256, 256), 1.0 / 16, np.float32)  # a @ a is all ones
        return np.float32(ops.matmul(a, a)[0, 0] + i)


def record_worker(worker_id):
    info = get_worker_info()
    assert info.id == worker_id
    random.seed(1000 + worker_id)  # init runs after kiln's seeding, so it may reseed


def failing_init(worker_id):
    raise KeyError(f"no config for worker {worker_id}")


def unpicklable_collate(samples):
    return lambda: samples


def batches(loader):
    return [tuple(t.numpy().copy() for t in batch) if isinstance(batch, tuple) else batch.numpy().copy()
            for batch in loader]


def no_workers_left():
    for child in multiprocessing.active_children():
        child.join(5)
    return not multiprocessing.active_children()


@pytest.mark.parametrize("method", METHODS)
def test_batches_come_in_the_order_of_num_workers_0(method):
    x = np.arange(50, dtype=np.float32).reshape(25, 2)
    datasets = {"tensors": TensorDataset(x, np.arange(25)), "samples": Squares(23),
                "subset": Subset(TensorDataset(x), np.arange(3, 20))}
    for name, dataset in datasets.items():
        if method == "spawn" and name != "tensors":  # a spawned worker takes ~0.3 s to start: one case
            continue
        runs = []
        for workers in (0, 3):
            kiln.manual_seed(7)
            loader = DataLoader(dataset, batch_size=4, shuffle=True, drop_last=name == "samples",
                                num_workers=workers, multiprocessing_context=method, timeout=LIMIT_S)
            runs.append([batches(loader) for _ in range(2)])  # two epochs: the stream after one matches too
            runs[-1].append(kiln.random.generator().integers(2**31))
        serial, parallel = runs
        assert len(serial[0]) == len(DataLoader(dataset, batch_size=4, drop_last=name == "samples"))
        for epoch in range(2):
            assert len(serial[epoch]) == len(parallel[epoch])
            for a, b in zip(serial[epoch], parallel[epoch]):
                for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
                    assert u.dtype == v.dtype
                    np.testing.assert_array_equal(u, v)
        assert serial[2] == parallel[2]
    assert no_workers_left()


@pytest.mark.parametrize("method", METHODS)
def test_workers_are_seeded_as_torch_and_run_one_thread(method):
    def run():
        kiln.manual_seed(3)
        loader = DataLoader(WhoMadeIt(), batch_size=2, num_workers=2, worker_init_fn=record_worker,
                            multiprocessing_context=method, timeout=LIMIT_S)
        return np.concatenate(batches(loader))

    rows = run()
    kiln.manual_seed(3)
    DataLoader(WhoMadeIt(), batch_size=2)._batches()
    base_seed = int(kiln.random.generator().integers(0, 2**62))  # what the loader draws after the order
    index, worker, seed, count, threads = rows[:, :5].T
    np.testing.assert_array_equal(index, np.arange(8))
    np.testing.assert_array_equal(worker, [0, 0, 1, 1, 0, 0, 1, 1])  # batch b on worker b % 2
    np.testing.assert_array_equal(seed, (base_seed + worker) % 2**31)
    assert (count == 2).all() and (threads == 1).all()
    assert kiln.get_num_threads() >= 1  # the parent's own setting is untouched
    # kiln's generator in worker k is manual_seed(base_seed + k); Python's was reseeded by worker_init_fn
    for k in (0, 1):
        want = kiln.manual_seed(base_seed + k).integers(2**31, size=4)
        np.testing.assert_array_equal(rows[worker == k, 5], want)
        py = random.Random(1000 + k)
        np.testing.assert_array_equal(rows[worker == k, 6], [py.getrandbits(31) for _ in range(4)])
    assert len(set(rows[:, 7])) == 8  # NumPy's global generator differs between workers
    np.testing.assert_array_equal(run(), rows)  # and the whole thing repeats with the seed


@pytest.mark.parametrize("method", METHODS)
def test_an_error_in_a_worker_is_raised_with_its_traceback(method):
    loader = DataLoader(FailsAt(bad=5), batch_size=2, num_workers=2, multiprocessing_context=method,
                        timeout=LIMIT_S)
    seen = []
    with pytest.raises(ValueError) as caught:
        for batch in loader:
            seen.append(batch.numpy().tolist())
    assert seen == [[0, 1], [2, 3]]  # batch 2 (samples 4, 5) failed, on worker 0
    message = str(caught.value)
    assert "Caught ValueError in DataLoader worker process 0" in message
    assert "Original Traceback (most recent call last)" in message
    assert 'raise ValueError(f"sample {i} is unreadable")' in message
    assert "ValueError: sample 5 is unreadable" in message
    assert no_workers_left()


def test_an_error_in_worker_init_fn_is_raised():
    loader = DataLoader(FailsAt(bad=-1), batch_size=2, num_workers=2, worker_init_fn=failing_init,
                        multiprocessing_context="fork", timeout=LIMIT_S)
    with pytest.raises(KeyError, match="(?s)Caught KeyError in worker_init_fn in DataLoader worker process 0.*"
                                       "no config for worker 0"):
        list(loader)
    assert no_workers_left()


def test_an_unpicklable_batch_is_an_error_not_a_hang():
    loader = DataLoader(Squares(4), batch_size=2, num_workers=1, collate_fn=unpicklable_collate,
                        multiprocessing_context="fork", timeout=LIMIT_S)
    with pytest.raises(Exception, match="(?s)while sending a batch in DataLoader worker process 0.*pickle"):
        list(loader)
    assert no_workers_left()


def test_a_worker_that_dies_is_a_runtime_error():
    loader = DataLoader(DiesAt(bad=3), batch_size=2, num_workers=2, multiprocessing_context="fork",
                        timeout=LIMIT_S)
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+\) exited unexpectedly with exit code 3"):
        list(loader)
    assert no_workers_left()


def test_workers_stop_when_the_loop_breaks_or_the_iterator_ends():
    loader = DataLoader(Squares(40), batch_size=2, num_workers=2, multiprocessing_context="fork",
                        timeout=LIMIT_S)
    for i, _ in enumerate(loader):
        if i == 3:
            break
    assert no_workers_left()
    it = iter(loader)
    assert len(it) == 20 and len(list(it)) == 20
    assert not multiprocessing.active_children()  # the last batch closed them, nothing left to join
    with pytest.raises(StopIteration):
        next(it)


def test_the_pytorch_loop_trains_with_workers():
    nn, optim = kiln.nn, kiln.optim
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = (x @ rng.standard_normal(5) > 0).astype(np.int64)
    losses = {}
    for workers in (0, 2):
        kiln.manual_seed(1)
        model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
        opt = optim.Adam(model.parameters(), lr=0.01)
        loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, num_workers=workers,
                            multiprocessing_context="fork", timeout=LIMIT_S)
        curve = []
        for _ in range(2):
            for xb, yb in loader:
                loss = nn.functional.cross_entropy(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                curve.append(loss.item())
        losses[workers] = curve
    assert losses[0] == losses[2]


FORK_AFTER_THREADS = textwrap.dedent("""
    import numpy as np
    import kiln
    from kiln import ops
    from kiln.utils.data import DataLoader
    from test_data_loader import MatmulSamples

    kiln.set_num_threads(2)
    a = np.ones((512, 512), np.float32)
    ops.matmul(a, a)  # a threaded kernel: the parent now has an OpenMP thread team
    for method in ("fork", "spawn"):
        got = [b.numpy().tolist() for b in DataLoader(MatmulSamples(), batch_size=2, num_workers=2,
                                                        multiprocessing_context=method, timeout=30)]
        assert got == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], got
    assert float(ops.matmul(a, a)[0, 0]) == 512.0  # and the parent's threads still work
    print("ok")
""")


def test_fork_after_threaded_kernels_does_not_hang():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(Path(kiln.__file__).parents[1]), str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", FORK_AFTER_THREADS], env=env, capture_output=True, text=True,
                          timeout=LIMIT_S)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("kwargs,error,match", [
    ({"batch_size": 0}, ValueError, "batch_size must be >= 1, got 0"),
    ({"batch_size": -5}, ValueError, "batch_size must be >= 1, got -5"),
    ({"batch_size": 2.5}, TypeError, "batch_size must be an int, got float"),
    ({"num_workers": -1}, ValueError, "num_workers must be >= 0, got -1"),
    ({"num_workers": 1.5}, TypeError, "num_workers must be an int"),
    ({"prefetch_factor": 2}, ValueError, "prefetch_factor needs num_workers > 0"),
    ({"num_workers": 1, "prefetch_factor": 0}, ValueError, "prefetch_factor must be >= 1"),
    ({"num_workers": 1, "multiprocessing_context": "thread"}, ValueError, "multiprocessing_context must be one of"),
    ({"num_workers": 1, "timeout": -1}, ValueError, "timeout must be >= 0"),
    ({"num_workers": 1, "worker_init_fn": 3}, TypeError, "worker_init_fn must be callable"),
    ({"num_workers": 1, "persistent_workers": True}, NotImplementedError, "persistent_workers"),
])
def test_bad_loader_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        DataLoader(Squares(4), **kwargs)
