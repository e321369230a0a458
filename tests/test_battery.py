"""The battery's short runs: each program of examples/battery on kiln with --quick (a few
batches), in this process; it must finish, its loss must fall, and where the short run can
tell, its accuracy must beat chance (run.py's QUICK_FLOOR). Programs kiln cannot run yet
(run.py's NEEDS) are skipped with the reason. The side-by-side full runs are run.py's."""

import os
import runpy
import sys

import pytest

pytest.importorskip("sklearn")

BATTERY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "battery")
sys.path.insert(0, BATTERY)
import _common  # noqa: E402
import run as battery  # noqa: E402


@pytest.mark.filterwarnings("ignore:dropout2d. Received a 2-D input")  # mnist_rnn; torch warns the same
@pytest.mark.parametrize("name", list(battery.PROGRAMS))
def test_program_runs_and_learns(name, monkeypatch, tmp_path):
    if name in battery.NEEDS:
        pytest.skip(f"needs {battery.NEEDS[name]}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [name + ".py", "--lib", "kiln", "--quick", *battery.EXTRA_ARGS.get(name, [])])
    _common.LAST = None
    runpy.run_path(os.path.join(BATTERY, name + ".py"), run_name="__main__")
    result = _common.LAST
    assert result is not None, f"{name} printed no RESULT"
    assert result["last_loss"] < result["first_loss"], result
    if name in battery.QUICK_FLOOR:
        assert result["value"] > battery.QUICK_FLOOR[name], result


def test_every_program_is_listed_with_its_source():
    files = {f[:-3] for f in os.listdir(BATTERY) if f.endswith(".py") and f not in ("run.py", "_common.py")}
    assert files == set(battery.PROGRAMS)
    assert set(battery.NEEDS) <= set(battery.PROGRAMS)
    for name in battery.PROGRAMS:
        assert battery.source_of(name).startswith("https://github.com/"), name
