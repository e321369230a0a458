"""pytest-benchmark: adam_step over 10M float32 parameters (28 bytes each)."""

from kiln.bench import kernel_cases, select

CASES = select(kernel_cases(), ["adam_step"])


def test_adam(case, backend, run_case):
    run_case(case, backend)
