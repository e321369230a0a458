"""Kernels in child processes after the parent ran threaded kernels: os.fork, and the
multiprocessing start methods fork, forkserver and spawn.

libgomp's pool does not survive fork(): a child used to hang forever in its first threaded
kernel. Each case runs as a script in its own session under a hard timeout, and the whole
process group is killed when it runs out, so a hang fails the test instead of hanging it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import kiln

pytestmark = [
    pytest.mark.skipif("cpu" not in kiln.available_backends(), reason="native module not built"),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()"),
]

PYTHON_PATH = str(Path(kiln.__file__).resolve().parents[1])

# Kernels that each start a 2-thread team (over 1 Mflop), and their results: a child must
# give the parent's results bit for bit (kiln's results do not depend on the thread count).
COMMON = """
import os
import sys
import numpy as np
import kiln
from kiln import ops

def kernels():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((512, 512)).astype(np.float32)
    x = rng.standard_normal((4, 16, 32, 32)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    seq = rng.standard_normal((8, 16, 64)).astype(np.float32)
    w_ih = rng.standard_normal((1024, 64)).astype(np.float32) / 8
    w_hh = rng.standard_normal((1024, 256)).astype(np.float32) / 16
    return [ops.matmul(a, a), ops.conv2d(x, w, padding=1), ops.lstm_sequence(seq, w_ih, w_hh)[0],
            ops.relu(rng.standard_normal(2_000_000).astype(np.float32))]

def threads_now():
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 0

def same(got, want):
    return all(np.array_equal(g, w) for g, w in zip(got, want))

kiln.set_num_threads(2)
"""


def run_script(tmp_path: Path, body: str, timeout: float = 60) -> str:
    script = tmp_path / "case.py"
    script.write_text(COMMON + textwrap.dedent(body))
    env = dict(os.environ, PYTHONPATH=PYTHON_PATH + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp_path, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the script and every child it forked
        out, err = proc.communicate()
        pytest.fail(f"hung for {timeout} s (a child waits for a thread pool that did not survive fork)\n"
                    f"{out[-2000:]}\n{err[-2000:]}")
    assert proc.returncode == 0, f"exit status {proc.returncode}\n{out[-2000:]}\n{err[-3000:]}"
    return out


def test_os_fork_child_runs_threaded_kernels(tmp_path):
    out = run_script(tmp_path, """
        want = kernels()
        pid = os.fork()
        if pid == 0:
            ok = same(kernels(), want) and kiln.get_num_threads() == 2
            # a team really ran: the child has more than its one thread now
            os._exit(0 if ok and threads_now() > 1 else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert same(kernels(), want)  # and the parent's pool still works
        print("ok")
        """)
    assert out.split() == ["ok"]


def test_fork_of_a_fork_and_threads_started_in_the_child(tmp_path):
    out = run_script(tmp_path, """
        import threading
        want = kernels()

        def in_threads():
            results = [None, None]
            def work(i):
                results[i] = kernels()
            threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return all(same(r, want) for r in results)

        pid = os.fork()
        if pid == 0:
            ok = same(kernels(), want) and in_threads()
            grandchild = os.fork()
            if grandchild == 0:
                os._exit(0 if same(kernels(), want) and in_threads() else 4)
            _, status = os.waitpid(grandchild, 0)
            os._exit(0 if ok and os.waitstatus_to_exitcode(status) == 0 else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        print("ok")
        """)
    assert out.split() == ["ok"]


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_multiprocessing_workers_run_threaded_kernels(tmp_path, method):
    out = run_script(tmp_path, f"""
        import multiprocessing as mp
        import warnings

        def worker(_):
            kiln.set_num_threads(2)
            return kernels()

        if __name__ == "__main__":
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12: fork with threads running
            want = kernels()
            ctx = mp.get_context("{method}")
            with ctx.Pool(2) as pool:
                results = pool.map(worker, range(4))
            assert all(same(r, want) for r in results)
            print("ok")
        """)
    assert out.split() == ["ok"]
