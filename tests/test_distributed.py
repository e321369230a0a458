"""kiln.distributed and fit under mpiexec: the scripts in tests/distributed/ run on 2 ranks
(``mpiexec -n 2``, skipped with the reason without mpi4py or mpiexec) and are compared with
one process on the same global batches; the rest runs in this process, without MPI."""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import kiln
from kiln import distributed as dist
from kiln.utils.data import DataLoader, TensorDataset

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "distributed")
PYTHONPATH = os.path.dirname(os.path.dirname(kiln.__file__))


def _mpiexec():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None, "mpi4py is not installed (pip install \"kiln[mpi]\")"
    found = shutil.which("mpiexec", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    if found is None:
        return None, "no mpiexec on PATH (pip install mpich, or a system MPI)"
    return found, ""


MPIEXEC, WHY = _mpiexec()
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason=WHY)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = PYTHONPATH + os.pathsep + env.get("PYTHONPATH", "")
    for name in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS"):
        env.pop(name, None)  # a test run under a launcher must not make the single runs think they are ranks
    return env


def _run(args, ranks=None, timeout=120):
    command = ([MPIEXEC, "-n", str(ranks)] if ranks else []) + [sys.executable, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=SCRIPTS)


def _json(path):
    with open(path) as f:
        return json.load(f)


def _ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result


# ---- 2 ranks ----------------------------------------------------------------------------------

@needs_mpi
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_ddp_matches_one_process_on_the_global_batches(kind, tmp_path):
    steps = 7
    _ok(_run(["ddp_digits.py", kind, str(steps), str(tmp_path / "ddp")], ranks=2))
    _ok(_run(["ddp_digits.py", kind, str(steps), str(tmp_path / "one"), "--single", "2"]))
    r0, r1 = (np.load(tmp_path / "ddp" / f"rank{r}.npz") for r in (0, 1))
    one = np.load(tmp_path / "one" / "rank0.npz")
    assert sorted(r0.files) == sorted(one.files)
    for name in r0.files:
        np.testing.assert_array_equal(r0[name], r1[name], err_msg=f"{name} differs between the ranks")
        np.testing.assert_allclose(r0[name], one[name], rtol=1e-5, atol=1e-6, err_msg=name)


@needs_mpi
def test_keras_fit_under_two_ranks_matches_one_process(tmp_path):
    result = _ok(_run(["keras_fit.py", str(tmp_path / "two")], ranks=2))
    _ok(_run(["keras_fit.py", str(tmp_path / "one")]))
    two = [_json(tmp_path / "two" / f"rank{r}.json") for r in (0, 1)]
    one = _json(tmp_path / "one" / "rank0.json")
    assert two[0]["world"] == 2 and one["world"] == 1
    assert two[0]["history"] == two[1]["history"]  # the same logs on every rank
    for key, values in one["history"].items():
        np.testing.assert_allclose(two[0]["history"][key], values, rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(two[0]["evaluate"], one["evaluate"], rtol=1e-5)
    # the checkpoint of each epoch written by rank 0 alone; the progress lines printed once
    assert (two[0]["saves"], two[1]["saves"]) == (3, 0)
    assert (tmp_path / "two" / "ckpt.keras").exists()
    assert result.stdout.count("Epoch 1/3") == 1
    w = [np.load(tmp_path / "two" / f"rank{r}.npz") for r in (0, 1)]
    w_one = np.load(tmp_path / "one" / "rank0.npz")
    for name in w_one.files:
        np.testing.assert_array_equal(w[0][name], w[1][name], err_msg=name)
        np.testing.assert_allclose(w[0][name], w_one[name], rtol=1e-5, atol=1e-6, err_msg=name)


@needs_mpi
def test_keras_fit_of_two_outputs_under_two_ranks_matches_one_process(tmp_path):
    _ok(_run(["keras_multi_output.py", str(tmp_path / "two")], ranks=2))
    _ok(_run(["keras_multi_output.py", str(tmp_path / "one")]))
    two = [_json(tmp_path / "two" / f"rank{r}.json") for r in (0, 1)]
    one = _json(tmp_path / "one" / "rank0.json")
    assert two[0] == two[1]
    assert sorted(one["history"]) == ["a_loss", "a_mae", "b_accuracy", "b_loss", "loss"]
    for key, values in one["history"].items():
        np.testing.assert_allclose(two[0]["history"][key], values, rtol=1e-5, err_msg=key)
    for got, want in zip(two[0]["predicted"], one["predicted"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@needs_mpi
def test_a_rank_that_raises_ends_the_job(tmp_path):
    start = time.perf_counter()
    result = _run(["raise_on_rank.py"], ranks=2, timeout=60)
    elapsed = time.perf_counter() - start
    assert result.returncode != 0
    assert elapsed < 10, f"the job took {elapsed:.1f} s to end"
    assert "rank 1 failed on purpose" in result.stderr
    assert "RuntimeError" in result.stderr


@needs_mpi
def test_different_models_are_refused_at_broadcast_parameters():
    result = _run(["mismatch.py"], ranks=2, timeout=60)
    assert result.returncode != 0
    assert "parameter 0 has shape (4, 4) (float32) on rank 1 but (3, 4) (float32) on rank 0" in result.stderr


@needs_mpi
def test_a_parameter_without_gradient_is_reported_at_the_next_forward():
    result = _run(["unused_parameter.py"], ranks=2, timeout=60)
    assert result.returncode != 0
    assert "left some parameters without a gradient" in result.stderr


@needs_mpi
@pytest.mark.skipif(not kiln.cuda.is_available(), reason="no cuda device (real or emulated) in this build")
def test_device_buffers_are_reduced_through_host_memory():
    result = _ok(_run(["device_buffers.py"], ranks=2))
    assert "device buffers staged through host memory (MPI not CUDA-aware)" in result.stderr or \
        "passed to MPI directly (CUDA-aware MPI)" in result.stderr
    for r in (0, 1):
        assert f"rank {r}: mean=[1.5, 1.5, 1.5] same=True" in result.stdout


@needs_mpi
def test_init_sets_threads_per_rank_and_omp_num_threads_wins():
    code = "import kiln; kiln.distributed.init(verbose=False); print(f'threads={kiln.get_num_threads()};')"
    cores = os.cpu_count()
    env = _env()
    env.pop("OMP_NUM_THREADS", None)
    run = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    assert re.findall(r"threads=(\d+);", run.stdout) == [str(max(1, cores // 2))] * 2
    env["OMP_NUM_THREADS"] = "3"
    run = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    assert re.findall(r"threads=(\d+);", run.stdout) == ["3", "3"]


# ---- this process: a world of one, no MPI ----------------------------------------------------------

def test_import_kiln_never_imports_mpi4py():
    code = ("import sys; import kiln, kiln.distributed as d; d.init(); import kiln.keras; "
            "print(d.world_size(), d.rank(), d.is_initialized(), 'mpi4py' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=_env())
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "0", "True", "False"]


def test_without_mpi4py_alone_works_and_under_a_launcher_says_what_to_install(tmp_path):
    blocker = tmp_path / "mpi4py"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('No module named mpi4py (blocked by the test)')\n")
    env = _env()
    env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{env['PYTHONPATH']}"
    code = ("import kiln; from kiln import distributed as d; d.init(); t = kiln.ones(3); d.all_reduce(t); "
            "d.broadcast_parameters([t]); d.barrier(); print(d.world_size(), t.numpy().tolist())")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "[1.0,", "1.0,", "1.0]"]
    env["PMI_SIZE"] = "2"
    run = subprocess.run([sys.executable, "-c", "import kiln; kiln.distributed.init()"], capture_output=True,
                         text=True, timeout=60, env=env)
    assert run.returncode != 0
    assert 'pip install "kiln[mpi]"' in run.stderr


def test_world_of_one_is_a_no_op():
    dist.init()
    assert (dist.world_size(), dist.rank(), dist.is_initialized()) == (1, 0, True)
    model = kiln.nn.Linear(3, 2)
    before = model.weight.detach().numpy().copy()
    dist.broadcast_parameters(model)
    np.testing.assert_array_equal(model.weight.detach().numpy(), before)
    t = kiln.tensor([1.0, 2.0])
    assert dist.all_reduce(t, op="sum") is t
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
    with pytest.raises(ValueError, match="op must be one of"):
        dist.all_reduce(t, op="prod")
    with pytest.raises(TypeError, match="must be a kiln.Tensor"):
        dist.all_reduce(np.ones(2))
    ddp = dist.DistributedDataParallel(model)  # alone: the model itself, gradients untouched
    opt = kiln.optim.SGD(ddp.parameters(), lr=0.1)
    x = kiln.randn(4, 3)
    ddp(x).sum().backward()
    np.testing.assert_allclose(model.weight.grad.numpy(), np.tile(x.numpy().sum(0), (2, 1)), rtol=1e-6)
    opt.step()


def _torch_indices(n, replicas, rank, shuffle, drop_last):
    pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler
    return list(TorchSampler(range(n), num_replicas=replicas, rank=rank, shuffle=shuffle, drop_last=drop_last))


@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (2, 4, False), (8, 2, False)])
def test_distributed_sampler_shards_as_torch(n, replicas, drop_last):
    data = TensorDataset(kiln.arange(n))
    shards = [list(dist.DistributedSampler(data, num_replicas=replicas, rank=r, shuffle=False, drop_last=drop_last))
              for r in range(replicas)]
    for r in range(replicas):
        assert shards[r] == _torch_indices(n, replicas, r, False, drop_last)
    assert len({len(s) for s in shards}) == 1  # the same number of samples (of batches) on every rank
    flat = sorted(i for s in shards for i in s)
    assert set(flat) == (set(range(n)) if not drop_last else set(flat)) and set(flat) <= set(range(n))


def test_distributed_sampler_reshuffles_per_epoch_from_one_seed():
    data = TensorDataset(kiln.arange(20))
    a = [dist.DistributedSampler(data, num_replicas=2, rank=r, seed=3) for r in (0, 1)]
    first = [list(s) for s in a]
    assert sorted(first[0] + first[1]) == list(range(20))  # a partition of the epoch
    assert first == [list(s) for s in a]  # the same epoch again: the same shards
    for s in a:
        s.set_epoch(1)
    second = [list(s) for s in a]
    assert second != first and sorted(second[0] + second[1]) == list(range(20))
    with pytest.raises(ValueError, match="rank must be in"):
        dist.DistributedSampler(data, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="no sample per rank"):
        dist.DistributedSampler(TensorDataset(kiln.arange(1)), num_replicas=2, rank=0, drop_last=True)


def test_data_loader_takes_a_sampler():
    data = TensorDataset(kiln.arange(10))
    sampler = dist.DistributedSampler(data, num_replicas=3, rank=1, shuffle=False)
    loader = DataLoader(data, batch_size=2, sampler=sampler)
    assert len(loader) == 2
    assert [b[0].numpy().tolist() for b in loader] == [[1, 4], [7, 0]]  # index 0 again: the padding
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(data, sampler=sampler, shuffle=True)
    with pytest.raises(TypeError, match="iterable of indices"):
        DataLoader(data, sampler=3)


def test_leaf_hook_runs_once_per_backward_with_the_summed_gradient():
    w = kiln.tensor(np.ones(3, np.float32), requires_grad=True)
    seen = []
    w._node.hook = lambda: seen.append(w.grad.numpy().copy())
    (w * w + w).sum().backward()  # two paths into w: the hook sees their sum, once
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [3.0, 3.0, 3.0])
    opt = kiln.optim.SGD([w], lr=0.1)  # the gradient now goes into the flat buffer: the hook still runs
    opt.zero_grad()
    (2 * w).sum().backward()
    np.testing.assert_array_equal(seen[-1], [2.0, 2.0, 2.0])
    assert len(seen) == 2
    with pytest.raises(TypeError, match="Leaf.hook must be callable or None, got int"):
        w._node.hook = 3
    w._node.hook = None
    assert w._node.hook is None


def test_leaf_hook_error_ends_the_backward():
    w = kiln.tensor(np.ones(2, np.float32), requires_grad=True)

    def fail():
        raise KeyError("from the hook")

    w._node.hook = fail
    with pytest.raises(KeyError, match="from the hook"):
        (w * 3).sum().backward()
