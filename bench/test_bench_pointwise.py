"""pytest-benchmark: gelu, softmax-cross-entropy with its gradient, max_pool2d."""

from kiln.bench import kernel_cases, select

CASES = select(kernel_cases(), ["pointwise"])


def test_pointwise(case, backend, run_case):
    run_case(case, backend)
