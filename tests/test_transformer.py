"""The small GPT of examples/gpt_char.py (PyTorch idiom) and examples/gpt_char_keras.py (Keras
idiom): they learn (a short run's loss falls well below the uniform guess), sample, and the
PyTorch-idiom model's step equals torch's on the same weights."""

import importlib.util
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import kiln
from torch_compare import DEVICES, torch

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load_example(name: str, lib: str, env_var: str):
    module_name = f"test_transformer_{name}_{lib}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    previous = os.environ.get(env_var)
    os.environ[env_var] = lib
    try:
        spec = importlib.util.spec_from_file_location(module_name, os.path.join(EXAMPLES, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if previous is None:
            os.environ.pop(env_var)
        else:
            os.environ[env_var] = previous
    sys.modules[module_name] = module
    return module


@pytest.mark.parametrize("device", DEVICES)
def test_gpt_learns_a_repeating_text(device):
    """Periodic text is predictable after one period: a 2-layer model must get far below log(vocab)."""
    gpt = load_example("gpt_char", "kiln", "GPT_CHAR_LIB")
    kiln.manual_seed(0)
    rng = np.random.default_rng(0)
    data = np.tile(np.array([0, 3, 1, 4, 1, 5, 2, 6], np.int64), 40)
    context = 16
    model = gpt.GPT(7, context, width=32, layers=2, heads=2).to(device)
    optimizer = gpt.adamw(model, 1e-2)
    losses = []
    for _ in range(60 if device == "cpu" else 15):
        x, y = gpt.batches(data, context, 8, rng)
        _, loss = model(x.to(device), y.to(device))
        optimizer.zero_grad()
        loss.backward()
        kiln.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(math.log(7), rel=0.1)  # GPT-2's init: near the uniform guess
    assert min(losses[-5:]) < (0.35 if device == "cpu" else 1.5)
    sample = model.generate(kiln.tensor([[0, 3, 1]], device=device), 5, temperature=0.5, top_k=2)
    assert sample.shape == (1, 8)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_gpt_step_matches_torch_on_the_same_weights():
    ours, theirs = load_example("gpt_char", "kiln", "GPT_CHAR_LIB"), load_example("gpt_char", "torch", "GPT_CHAR_LIB")
    kiln.manual_seed(1)
    model = ours.GPT(11, 12, width=16, layers=2, heads=4)
    twin = theirs.GPT(11, 12, width=16, layers=2, heads=4)
    twin.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    ids = np.random.default_rng(1).integers(0, 11, size=(3, 13))
    x, y = ids[:, :-1].copy(), ids[:, 1:].copy()
    opt, topt = ours.adamw(model, 1e-2), theirs.adamw(twin, 1e-2)
    for _ in range(3):
        logits, loss = model(kiln.tensor(x), kiln.tensor(y))
        tlogits, tloss = twin(torch.tensor(x), torch.tensor(y))
        np.testing.assert_allclose(logits.detach().numpy(), tlogits.detach().numpy(), rtol=2e-4, atol=2e-5)
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-5)
        for o, lib, m in ((opt, kiln, model), (topt, torch, twin)):
            o.zero_grad()
            (loss if lib is kiln else tloss).backward()
            lib.nn.utils.clip_grad_norm_(m.parameters(), 0.5)
            o.step()
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-3, atol=2e-5, err_msg=name)


def test_gpt_examples_run_as_programs():
    """Both programs, as a user runs them, a few steps: they train, print a sample and a RESULT line."""
    # the kiln this test imports (the source tree's or an installed one), not whatever is on a path
    here = os.path.dirname(os.path.dirname(os.path.abspath(kiln.__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    for script, args in (("gpt_char.py", ["--steps", "3", "--context", "16", "--batch", "2"]),
                         ("gpt_char_keras.py", ["--steps", "3", "--context", "16", "--batch", "2"])):
        done = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *args], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "sample:" in done.stdout and "RESULT {" in done.stdout, done.stdout[-2000:]
