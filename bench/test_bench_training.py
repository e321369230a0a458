"""pytest-benchmark: one epoch of the digits CNN and the TF-IDF MLP, one digits-MLP step."""

from kiln.bench import training_cases

CASES, _ = training_cases()


def test_training(case, backend, run_case):
    run_case(case, backend)
