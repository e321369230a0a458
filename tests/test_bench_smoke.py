"""The benchmark's own machinery on tiny shapes, so that a broken bench fails CI.

Every kernel case's backends must agree with its NumPy runner (the bench compares them
the same way on the full shapes); the training cases must run; ``python -m kiln.bench
--tiny`` must print its tables and write its JSON. Nothing here looks at timings.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest

import kiln
from kiln.bench import kernel_cases, training_cases
from kiln.bench.__main__ import main
from kiln.bench.case import relative_error

pytestmark = pytest.mark.skipif("cpu" not in kiln.available_backends(), reason="kiln._C is not built")


@pytest.mark.parametrize("case", kernel_cases(tiny=True), ids=lambda case: case.name)
def test_kernel_case_backends_agree_with_numpy(case):
    assert case.comparable and "numpy" in case.runners
    inputs = case.make_inputs(np.random.default_rng(0))
    expected = case.runners["numpy"](inputs)()
    for backend, prepare in case.runners.items():
        if backend != "numpy":
            err = relative_error(prepare(inputs)(), expected)
            assert err <= case.tolerance, f"{backend}: relative error {err:.2e} > {case.tolerance:.1e}"


def test_training_cases_run():
    cases, notes = training_cases(tiny=True)
    if not cases:
        pytest.skip("; ".join(notes))
    for case in cases:
        inputs = case.make_inputs(np.random.default_rng(0))
        for prepare in case.runners.values():
            prepare(inputs)()
        if case.extra is not None:
            extra = case.extra(inputs)
            assert 0.0 <= extra["outside"] <= 1.0
            # plain floats: a NumPy scalar makes the verdicts NumPy bools, which json refuses
            assert all(type(v) is float for v in extra.values()), extra


def test_main_prints_tables_and_writes_json(tmp_path, capsys):
    path = tmp_path / "results.json"
    main(["--tiny", "--only", "matmul", "adam_step", "--json", str(path), "--png", ""])
    out = capsys.readouterr().out
    assert "== matmul ==" in out and "== adam_step ==" in out and "Issue-4 targets" in out
    saved = json.loads(path.read_text())
    assert saved["peaks"]["flops"]["flops_per_s"] > 0 and saved["peaks"]["bandwidth"]["bytes_per_s"] > 0
    matmul = next(r for r in saved["cases"] if r["kernel"] == "matmul")
    assert matmul["backends_agree"] is True
    assert math.isfinite(matmul["ratios"]["numpy"])
    for target in matmul["targets"]:  # judged wherever the other backend ran; torch may be absent
        ran = target["against"] in matmul["ratios"]
        assert (target["pass"] in (True, False)) if ran else target["pass"] is None, target


def test_chart_has_a_row_per_case_with_its_long_name(tmp_path):
    pytest.importorskip("matplotlib")
    from kiln.bench import report

    long_name = "next-word LSTM, one epoch (320 prefixes of 22 ids, Embedding 64 -> LSTM(1024) -> Dense(10000))"
    records = [{"kernel": "matmul", "shape": f"n={n}", "ratios": {"numpy": 1.1, "torch": 0.9},
                "targets": [{"against": "numpy", "at_least": 1.0}]} for n in (64, 1024)]
    records.append({"kernel": "training", "shape": long_name, "ratios": {"torch": 1.3},
                    "targets": [{"against": "torch", "at_least": 1.5}]})
    path = tmp_path / "chart.png"
    assert report.plot(records, str(path)) == f"chart saved to {path}"
    width, height = struct.unpack(">II", path.read_bytes()[16:24])  # the PNG header's size
    assert width >= 1000 and height >= 0.4 * 120 * len(records)  # room for every row
    label = report._chart_label(records[-1])
    assert label.count("\n") == 1 and all(len(line) <= 44 for line in label.split("\n"))


@pytest.mark.skipif(not kiln.cuda.is_available(), reason="no cuda device")
def test_device_cases_agree_and_print_side_by_side(tmp_path, capsys):
    from kiln.bench.devices import device_cases

    for case in device_cases(tiny=True):
        if case.comparable:
            inputs = case.make_inputs(np.random.default_rng(0))
            expected = case.runners["cpu"](inputs)()
            err = relative_error(case.runners["cuda"](inputs)(), expected)
            assert err <= case.tolerance, f"{case.name}: cuda vs cpu relative error {err:.2e}"
    main(["--device", "cuda", "--tiny", "--only", "gpu sgemm", "--json", str(tmp_path / "r.json"), "--png", ""])
    out = capsys.readouterr().out
    assert "== CPU vs GPU" in out and "gpu sgemm" in out
    if kiln.cuda.is_emulated():
        assert "EMULATED" in out
