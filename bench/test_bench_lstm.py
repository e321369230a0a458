"""pytest-benchmark: lstm_cell B=64 I=256 H=1024 forward; T=50 sequence forward+backward."""

from kiln.bench import kernel_cases, select

CASES = select(kernel_cases(), ["lstm"])


def test_lstm(case, backend, run_case):
    run_case(case, backend)
