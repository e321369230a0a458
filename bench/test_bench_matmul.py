"""pytest-benchmark: matmul n=1024 and n=64 (kiln.bench.kernels.matmul_case)."""

from kiln.bench import kernel_cases, select

CASES = select(kernel_cases(), ["matmul"])


def test_matmul(case, backend, run_case):
    run_case(case, backend)
