"""Whole-model cases: one training epoch of the digits CNN, the TF-IDF MLP and the next-word LSTM
(kiln's Keras models vs their PyTorch twins), one batch-32 step of the digits MLP with the share
of its time spent outside kiln's kernels (issue 3), and one step of the small GPT (issue 12).

The models are the example programs' (examples/*.py, examples/torch_twins/*.py), kept in
``bench.models`` so that the cases run from an installed package as well as from a checkout.
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np

from .. import keras
from .. import nn as kiln_nn
from .. import optim as kiln_optim
from .. import profiler
from ..backends import use_backend
from ..factories import tensor as kiln_tensor
from . import models
from .case import Case, Target
from .machine import torch_module

BATCH = 32


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


def _keras_epoch_runner(build, optimizer="adam", loss="sparse_categorical_crossentropy"):
    def prepare(x):
        keras.utils.set_random_seed(0)
        model = build(x)
        model.compile(optimizer=optimizer() if callable(optimizer) else optimizer, loss=loss,
                      metrics=["accuracy"])
        return lambda: model.fit(x["x"], x["y"], batch_size=BATCH, epochs=1, verbose=0)
    return prepare


def _shuffled(torch, inputs, labels):
    """The twins' batches: a fresh permutation each epoch, split into BATCH-sized index sets."""
    return lambda: ((inputs[i], labels[i]) for i in torch.randperm(len(labels)).split(BATCH))


def digits_cnn_case(limit: int | None = None) -> Case:
    torch = torch_module()

    def make(rng):
        images, labels = models.digits(limit)
        return {"x": images[..., None], "y": labels}

    def torch_runner(x):
        torch.manual_seed(0)
        model = models.digits_cnn_torch(torch)
        optimizer = models.keras_adam(torch, model.parameters())
        images = torch.from_numpy(np.ascontiguousarray(x["x"].transpose(0, 3, 1, 2)))
        return lambda: _torch_epoch(torch, model, optimizer, _shuffled(torch, images, torch.from_numpy(x["y"])))

    runners = {"cpu": _keras_epoch_runner(lambda x: models.digits_cnn_keras(keras))}
    if torch is not None:
        runners["torch"] = torch_runner
    return Case("training", f"digits CNN, one epoch ({limit or 1437} images, batch {BATCH})", make, runners,
                targets=[Target("torch", at_least=1.5)], comparable=False,
                notes=["kiln: examples/digits_cnn.py's model, fit(epochs=1); torch: its twin's DigitsCNN"])


def tfidf_mlp_case(rows: int = 4200) -> Case:
    torch = torch_module()
    classes = 4

    def make(rng):
        x, y = models.tfidf_like(rng, rows=rows, classes=classes)
        return {"x": x, "y": y}

    def torch_runner(x):
        torch.manual_seed(0)
        model = models.tfidf_mlp_torch(torch, x["x"].shape[1], classes)
        optimizer = models.keras_adam(torch, model.parameters())
        labels = torch.from_numpy(x["y"]).long()

        def batches():  # densified one batch at a time, as PyTorch users write it
            for idx in torch.randperm(len(labels)).split(BATCH):
                yield torch.tensor(x["x"][idx.numpy()].toarray()), labels[idx]
        return lambda: _torch_epoch(torch, model, optimizer, batches)

    runners = {"cpu": _keras_epoch_runner(lambda x: models.tfidf_mlp_keras(keras, x["x"].shape[1], classes))}
    if torch is not None:
        runners["torch"] = torch_runner
    return Case("training", f"TF-IDF MLP, one epoch (sparse input, batch {BATCH})", make, runners,
                targets=[Target("torch", at_least=5.0)], comparable=False,
                notes=["kiln: examples/tfidf_mlp.py's model fit on a SciPy CSR matrix of its shape (generated); "
                       "torch: its twin, each batch densified with toarray()"])


def next_word_case(sizes: dict = models.NEXT_WORD) -> Case:
    torch = torch_module()
    vocab, context, embedding, hidden = (sizes[k] for k in ("vocab", "context", "embedding", "hidden"))

    def make(rng):
        ids, labels = models.next_word_data(rng, vocab, context, sizes["samples"])
        return {"x": ids, "y": keras.utils.to_categorical(labels, num_classes=vocab), "labels": labels}

    def torch_runner(x):
        torch.manual_seed(0)
        model = models.next_word_torch(torch, vocab, embedding, hidden)
        optimizer = models.keras_adam(torch, model.parameters(), lr=sizes["lr"])
        ids, labels = torch.from_numpy(x["x"]), torch.from_numpy(x["labels"])
        return lambda: _torch_epoch(torch, model, optimizer, _shuffled(torch, ids, labels))

    runners = {"cpu": _keras_epoch_runner(lambda x: models.next_word_keras(keras, vocab, context, embedding, hidden),
                                          optimizer=lambda: keras.optimizers.Adam(learning_rate=sizes["lr"]),
                                          loss="categorical_crossentropy")}
    if torch is not None:
        runners["torch"] = torch_runner
    return Case("training", f"next-word LSTM, one epoch ({sizes['samples']} prefixes of {context} ids, "
                f"Embedding {embedding} -> LSTM({hidden}) -> Dense({vocab}), batch {BATCH})", make, runners,
                targets=[Target("torch", at_least=1.5)], comparable=False,
                notes=["kiln: examples/next_word_lstm.py's functional model, one-hot labels, fit(epochs=1); "
                       "torch: its twin (CrossEntropyLoss on the ids); generated Zipf word ids"])


def digits_mlp_step_case(profile_steps: int = 1000) -> Case:
    torch = torch_module()

    def make(rng):
        images, labels = models.digits(BATCH)
        return {"x": images.reshape(BATCH, 64), "y": labels}

    def kiln_runner(backend):
        import kiln

        def prepare(x):
            with use_backend(backend):
                kiln.manual_seed(0)
                model = models.digits_mlp(kiln)
                criterion = kiln_nn.CrossEntropyLoss()
                optimizer = kiln_optim.Adam(model.parameters(), lr=1e-3)
                inputs, targets = kiln_tensor(x["x"]), kiln_tensor(x["y"])

            def step():
                with use_backend(backend):
                    return _train_step(model, criterion, optimizer, inputs, targets)
            return step
        return prepare

    def torch_runner(x):
        torch.manual_seed(0)
        model = models.digits_mlp(torch)
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
NEXT_WORD_TINY = dict(models.NEXT_WORD, vocab=50, context=5, embedding=8, hidden=16, samples=2 * BATCH)


def gpt_inputs(sizes: dict):
    def make(rng):
        ids = rng.integers(0, sizes["vocab"], size=(sizes["batch"], sizes["context"] + 1))
        return {"x": ids[:, :-1].copy(), "y": ids[:, 1:].copy()}
    return make


def gpt_step_runner(lib: str, device: str, sizes: dict, after=None):
    """prepare(inputs) -> one AdamW training step (clipped at norm 1) of examples/gpt_char.py's GPT
    on ``lib`` ("kiln" or "torch") and ``device``; ``after`` runs at the end of each step (a sync)."""
    def prepare(x):
        module = importlib.import_module(lib)
        module.manual_seed(0)
        model = models.gpt(module, sizes["vocab"], sizes["context"], sizes["width"], sizes["layers"],
                           sizes["heads"]).to(device)
        optimizer = models.adamw(module, model, 1e-3)
        inputs = module.from_numpy(x["x"]).to(device)
        targets = module.from_numpy(x["y"]).to(device)

        def step():
            _, loss = model(inputs, targets)
            optimizer.zero_grad()
            loss.backward()
            module.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
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
    if importlib.util.find_spec("sklearn") is None or importlib.util.find_spec("scipy") is None:
        return [], ["training cases left out: scikit-learn or SciPy is not importable (pip install 'kiln[bench]')"]
    if tiny:
        return [digits_cnn_case(limit=2 * BATCH), tfidf_mlp_case(rows=2 * BATCH), next_word_case(NEXT_WORD_TINY),
                digits_mlp_step_case(profile_steps=5), gpt_step_case(GPT_TINY)], []
    return [digits_cnn_case(), tfidf_mlp_case(), next_word_case(), digits_mlp_step_case(), gpt_step_case()], []
