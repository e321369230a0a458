"""pytest-benchmark: a 64 x 28k CSR batch (0.1% dense) @ 28k x 128, kiln vs dense NumPy/torch and SciPy."""

from kiln.bench import kernel_cases, select

CASES = select(kernel_cases(), ["sparse_matmul"])


def test_sparse_matmul(case, backend, run_case):
    run_case(case, backend)
