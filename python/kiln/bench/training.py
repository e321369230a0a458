"""Whole-model cases: one training epoch of the digits CNN and of the TF-IDF MLP (kiln's
Keras examples vs their PyTorch twins), and one batch-32 step of the digits MLP with the
share of its time spent outside kiln's kernels (issue 3).

The models come from the programs themselves (examples/*.py and examples/torch_twins/*.py,
loaded by path), so the benchmark trains exactly what those programs train. They live in
the source tree, not the wheel: without it these cases are left out, with a note.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time

import numpy as np

from .. import keras
from .. import nn as kiln_nn
from .. import optim as kiln_optim
from .. import profiler
from ..backends import use_backend
from ..factories import tensor as kiln_tensor
from .case import Case, Target
from .machine import torch_module

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
EXAMPLES = os.path.join(REPO, "examples")
TWINS = os.path.join(REPO, "examples", "torch_twins")
BATCH = 32


def source_tree_available() -> bool:
    return os.path.isdir(EXAMPLES) and os.path.isdir(TWINS)


def _load(folder: str, name: str):
    """examples/<name>.py or examples/torch_twins/<name>.py as a module of its own name-space."""
    if folder == TWINS and TWINS not in sys.path:
        sys.path.insert(0, TWINS)  # the twins import their shared keras_like module
    module_name = f"kiln_bench_{'twin' if folder == TWINS else 'example'}_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, os.path.join(folder, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[module_name] = module
    return sys.modules[module_name]


def _digits(limit: int | None):
    """The examples' training split of scikit-learn's digits: (images (n, 8, 8) in [0, 1], labels)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    x, _, y, _ = train_test_split((digits.images / 16.0).astype(np.float32), digits.target, test_size=0.2,
                                  stratify=digits.target, random_state=0)
    return x[:limit], y[:limit]


def _torch_epoch(torch, model, optimizer, batches):
    """One epoch as the twins write it: shuffled batches, step, running loss and accuracy."""
    criterion = torch.nn.CrossEntropyLoss()
    model.train()
    total_loss, correct = 0.0, 0
    for inputs, targets in batches():
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(targets)
        correct += (outputs.argmax(dim=1) == targets).sum().item()
    return total_loss


def _train_step(model, criterion, optimizer, inputs, targets) -> float:
    """One step in the PyTorch idiom; kiln's and torch's objects both fit."""
    optimizer.zero_grad()
    loss = criterion(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.item()


def _keras_epoch_runner(build):
    def prepare(x):
        keras.utils.set_random_seed(0)
        model = build(x)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return lambda: model.fit(x["x"], x["y"], batch_size=BATCH, epochs=1, verbose=0)
    return prepare


def digits_cnn_case(limit: int | None = None) -> Case:
    example = _load(EXAMPLES, "digits_cnn")
    torch = torch_module()

    def make(rng):
        images, labels = _digits(limit)
        return {"x": images[..., None], "y": labels}

    def torch_runner(x):
        twin = _load(TWINS, "digits_cnn")
        torch.manual_seed(0)
        model = twin.keras_init_(twin.DigitsCNN())
        optimizer = twin.keras_adam(model.parameters())
        images = torch.from_numpy(np.ascontiguousarray(x["x"].transpose(0, 3, 1, 2)))
        labels = torch.from_numpy(x["y"])
        batches = lambda: ((images[i], labels[i]) for i in torch.randperm(len(labels)).split(BATCH))  # noqa: E731
        return lambda: _torch_epoch(torch, model, optimizer, batches)

    runners = {"cpu": _keras_epoch_runner(lambda x: example.build_model())}
    if torch is not None:
        runners["torch"] = torch_runner
    return Case("training", f"digits CNN, one epoch ({limit or 1437} images, batch {BATCH})", make, runners,
                targets=[Target("torch", at_least=1.5)], comparable=False,
                notes=["kiln: examples/digits_cnn.py build_model + fit(epochs=1); torch: its twin's DigitsCNN"])


def tfidf_mlp_case() -> Case:
    example = _load(EXAMPLES, "tfidf_mlp")
    torch = torch_module()

    def make(rng):
        x_train, y_train, _, _ = example.prepare_data(0)
        return {"x": x_train, "y": y_train}

    def torch_runner(x):
        twin = _load(TWINS, "tfidf_mlp")
        torch.manual_seed(0)
        model = twin.build_model(x["x"].shape[1], len(example.CATEGORIES))
        optimizer = twin.keras_adam(model.parameters())
        labels = torch.from_numpy(x["y"]).long()

        def batches():  # densified one batch at a time, as PyTorch users write it
            for idx in torch.randperm(len(labels)).split(BATCH):
                yield torch.tensor(x["x"][idx.numpy()].toarray()), labels[idx]
        return lambda: _torch_epoch(torch, model, optimizer, batches)

    runners = {"cpu": _keras_epoch_runner(lambda x: example.build_model(x["x"].shape[1], len(example.CATEGORIES)))}
    if torch is not None:
        runners["torch"] = torch_runner
    return Case("training", f"TF-IDF MLP, one epoch (sparse input, batch {BATCH})", make, runners,
                targets=[Target("torch", at_least=5.0)], comparable=False,
                notes=["kiln: examples/tfidf_mlp.py fit on the SciPy CSR matrix; "
                       "torch: its twin, each batch densified with toarray()"])


def digits_mlp_step_case(profile_steps: int = 1000) -> Case:
    example = _load(EXAMPLES, "digits_mlp")
    torch = torch_module()

    def make(rng):
        images, labels = _digits(BATCH)
        return {"x": images.reshape(BATCH, 64), "y": labels}

    def kiln_runner(backend):
        def prepare(x):
            with use_backend(backend):
                model = example.MLP()
                criterion = kiln_nn.CrossEntropyLoss()
                optimizer = kiln_optim.Adam(model.parameters(), lr=1e-3)
                inputs, targets = kiln_tensor(x["x"]), kiln_tensor(x["y"])

            def step():
                with use_backend(backend):
                    return _train_step(model, criterion, optimizer, inputs, targets)
            return step
        return prepare

    def torch_runner(x):
        twin = _load(TWINS, "digits_mlp")
        model = twin.MLP()
        criterion = torch.nn.CrossEntropyLoss()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        inputs, targets = torch.from_numpy(x["x"]), torch.from_numpy(x["y"])

        return lambda: _train_step(model, criterion, optimizer, inputs, targets)

    def outside_kernels(x) -> dict:
        """Share of a kiln step's wall time outside kiln._C.

        Kernel time comes from kiln.profiler, whose per-call wrapper is not part of the step;
        so the wall time is taken from the same steps run without it, in alternating blocks
        (medians of the blocks). ``outside_profiled`` is the share with the wrapper included.
        """
        step = kiln_runner("cpu")(x)
        for _ in range(20):
            step()
        block = max(profile_steps // 10, 1)
        plain, profiled, kernel, calls = [], [], [], 0
        for _ in range(10):
            start = time.perf_counter()
            for _ in range(block):
                step()
            plain.append((time.perf_counter() - start) / block)
            with profiler.kernel_time() as kt:
                start = time.perf_counter()
                for _ in range(block):
                    step()
                profiled.append((time.perf_counter() - start) / block)
            kernel.append(kt.seconds / block)
            calls = sum(kt.calls.values()) / block
        wall, wall_profiled, inside = (float(np.median(v)) for v in (plain, profiled, kernel))
        return {"outside": 1.0 - inside / wall, "outside_profiled": 1.0 - inside / wall_profiled,
                "kernel_calls_per_step": calls}

    runners = {"numpy": kiln_runner("numpy"), "cpu": kiln_runner("cpu")}
    if torch is not None:
        runners["torch"] = torch_runner
    return Case("training", f"digits MLP, one batch-{BATCH} step", make, runners,
                targets=[Target("outside", at_most=0.30)], comparable=False, extra=outside_kernels,
                notes=["numpy: the same kiln model on the NumPy reference backend",
                       "outside: share of kiln's step time spent outside kiln._C (kernel time from "
                       "kiln.profiler, wall time from the same steps unprofiled), issue 3"])


GPT = dict(context=256, width=128, layers=4, heads=4, batch=8, vocab=92)  # issue 12's bench row
GPT_TINY = dict(context=16, width=32, layers=1, heads=2, batch=2, vocab=11)


def _gpt_example(lib: str):
    """examples/gpt_char.py imported with its library, "kiln" or "torch" (it reads GPT_CHAR_LIB)."""
    module_name = f"kiln_bench_gpt_char_{lib}"
    if module_name not in sys.modules:
        previous = os.environ.get("GPT_CHAR_LIB")
        os.environ["GPT_CHAR_LIB"] = lib
        try:
            spec = importlib.util.spec_from_file_location(module_name, os.path.join(EXAMPLES, "gpt_char.py"))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            if previous is None:
                del os.environ["GPT_CHAR_LIB"]
            else:
                os.environ["GPT_CHAR_LIB"] = previous
        sys.modules[module_name] = module
    return sys.modules[module_name]


def gpt_inputs(sizes: dict):
    def make(rng):
        ids = rng.integers(0, sizes["vocab"], size=(sizes["batch"], sizes["context"] + 1))
        return {"x": ids[:, :-1].copy(), "y": ids[:, 1:].copy()}
    return make


def gpt_step_runner(lib: str, device: str, sizes: dict, after=None):
    """prepare(inputs) -> one AdamW training step (clipped at norm 1) of examples/gpt_char.py's GPT
    on ``lib`` ("kiln" or "torch") and ``device``; ``after`` runs at the end of each step (a sync)."""
    def prepare(x):
        example = _gpt_example(lib)
        example.torch.manual_seed(0)
        model = example.GPT(sizes["vocab"], sizes["context"], sizes["width"], sizes["layers"], sizes["heads"])
        model = model.to(device)
        optimizer = example.adamw(model, 1e-3)
        inputs = example.torch.from_numpy(x["x"]).to(device)
        targets = example.torch.from_numpy(x["y"]).to(device)

        def step():
            _, loss = model(inputs, targets)
            optimizer.zero_grad()
            loss.backward()
            example.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if after is not None:
                after()
            return loss.item()
        return step
    return prepare


def gpt_step_case(sizes: dict = GPT) -> Case:
    runners = {"cpu": gpt_step_runner("kiln", "cpu", sizes)}
    if torch_module() is not None:
        runners["torch"] = gpt_step_runner("torch", "cpu", sizes)
    shape = (f"GPT step (context {sizes['context']}, width {sizes['width']}, {sizes['layers']} layers, "
             f"{sizes['heads']} heads, batch {sizes['batch']})")
    return Case("training", shape, gpt_inputs(sizes), runners, comparable=False,
                targets=[Target("torch", at_least=1.0)],
                notes=["examples/gpt_char.py's GPT on both libraries: forward, cross-entropy, backward, "
                       "clip_grad_norm_, AdamW step"])


def training_cases(tiny: bool = False) -> tuple[list[Case], list[str]]:
    """The whole-model cases, and notes on any left out."""
    if not source_tree_available():
        return [], [f"training cases left out: {EXAMPLES} and {TWINS} are not here (run from a source checkout)"]
    if importlib.util.find_spec("sklearn") is None:  # the examples' data
        return [], ["training cases left out: scikit-learn is not importable (pip install 'kiln[bench]')"]
    if tiny:
        return [digits_cnn_case(limit=2 * BATCH), digits_mlp_step_case(profile_steps=5)], []
    return [digits_cnn_case(), tfidf_mlp_case(), digits_mlp_step_case()], []
