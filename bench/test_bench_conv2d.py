"""pytest-benchmark: conv2d 3x3 pad 1, three shapes, forward and forward+backward."""

from kiln.bench import kernel_cases, select

CASES = select(kernel_cases(), ["conv2d"])


def test_conv2d(case, backend, run_case):
    run_case(case, backend)
