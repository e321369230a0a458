"""A small GPT, trained end to end in the PyTorch idiom, running on kiln.

A character-level language model as nanoGPT writes one: token and position embeddings, N
blocks of (layer norm -> causal multi-head self-attention -> residual, layer norm -> GELU
MLP -> residual), a final layer norm and a linear head; AdamW (decay on matrices only) with
a linear warm-up and a cosine decay (``LambdaLR``), gradient clipping at norm 1. The text is
scikit-learn's dataset descriptions (``sklearn/datasets/descr/*.rst``, 43 KB of English
prose and tables that the package ships); the last 10% is held out. After training the
script prints the held-out loss and samples text from the model.

    PYTHONPATH=python python examples/gpt_char.py --steps 600
    PYTHONPATH=python python examples/gpt_char.py --lib torch --steps 600   # the same on PyTorch

``--lib`` switches the imports and nothing else: the program is the same for both.
"""

import argparse
import glob
import json
import math
import os
import sys
import time

import numpy as np


def _library() -> str:
    """The ``--lib`` of the command line, read before argparse because the imports depend on it
    (GPT_CHAR_LIB when the file is loaded as a module, as ``python -m kiln.bench`` does)."""
    for i, arg in enumerate(sys.argv):
        if arg.startswith("--lib="):
            return arg.split("=", 1)[1]
        if arg == "--lib" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
    return os.environ.get("GPT_CHAR_LIB", "kiln")


LIB = _library()
if LIB == "torch":
    import torch
    from torch import nn
    from torch.nn import functional as F
else:
    import kiln as torch
    from kiln import nn
    from kiln.nn import functional as F


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t attends to positions <= t.

    (B, T, C) -> (B, T, C); C = heads * head size. q, k, v come from one (C, 3C) projection.
    """

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} must be a multiple of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.view(B, T, self.heads, C // self.heads).transpose(1, 2)  # (B, heads, T, head size)
        k = k.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        v = v.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.dropout(self.proj(y))


class Block(nn.Module):
    """Pre-norm Transformer block: x + attn(ln(x)), then x + mlp(ln(x)). (B, T, C) -> (B, T, C)."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads, dropout)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width),
                                 nn.Dropout(dropout))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Token ids (B, T) -> next-token logits (B, T, vocab); with targets (B, T) also the mean loss."""

    def __init__(self, vocab: int, context: int, width: int = 128, layers: int = 4, heads: int = 4,
                 dropout: float = 0.0):
        super().__init__()
        self.context = context
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(context, width)
        self.blocks = nn.ModuleList([Block(width, heads, dropout) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        for name, p in self.named_parameters():  # GPT-2's initialisation
            if p.dim() == 2:
                nn.init.normal_(p, mean=0.0, std=0.02)
            if name.endswith(("proj.weight", "mlp.2.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))
            if name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        x = self.tok(idx) + self.pos(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))

    @torch.no_grad()
    def generate(self, idx, new_tokens: int, temperature: float = 0.8, top_k: int = 10):
        """Continue (B, T0) token ids by ``new_tokens`` sampled ones -> (B, T0 + new_tokens)."""
        for _ in range(new_tokens):
            logits, _ = self(idx[:, -self.context:])
            logits = logits[:, -1, :] / temperature
            kth = torch.topk(logits, top_k).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
            nxt = torch.multinomial(F.softmax(logits, dim=-1), num_samples=1)
            idx = torch.cat([idx, nxt], dim=1)
        return idx


def load_text() -> str:
    import sklearn
    folder = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "descr")
    return "\n\n".join(open(path, encoding="utf-8").read() for path in sorted(glob.glob(f"{folder}/*.rst")))


def batches(data: np.ndarray, context: int, batch: int, rng: np.random.Generator):
    """Random windows of ``context + 1`` tokens: inputs (B, T) and the next tokens (B, T), int64."""
    starts = rng.integers(0, len(data) - context - 1, size=batch)
    window = np.stack([data[s:s + context + 1] for s in starts])
    return torch.from_numpy(window[:, :-1].copy()), torch.from_numpy(window[:, 1:].copy())


def warmup_cosine(warmup: int, total: int, floor: float = 0.1):
    """The learning-rate factor of step s: linear warm-up, then a cosine decay to ``floor``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def adamw(model, lr: float, weight_decay: float = 0.1):
    """AdamW decaying the matrices (weights, embeddings) and not the biases and norms' gains."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))


@torch.no_grad()
def held_out_loss(model, data, context, batch, rng, rounds: int = 8) -> float:
    model.eval()
    losses = [model(*batches(data, context, batch, rng))[1].item() for _ in range(rounds)]
    model.train()
    return float(np.mean(losses))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", choices=["kiln", "torch"], default="kiln")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    text = load_text()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = np.array([index[c] for c in text], dtype=np.int64)
    split = int(0.9 * len(data))
    train, held_out = data[:split], data[split:]
    print(f"{LIB}: {len(text)} characters, vocabulary {len(chars)}, "
          f"{len(train)} for training, {len(held_out)} held out")

    model = GPT(len(chars), args.context, args.width, args.layers, args.heads)
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")
    optimizer = adamw(model, args.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(max(args.steps // 20, 1), args.steps))

    initial = held_out_loss(model, held_out, args.context, args.batch, rng)
    start = time.perf_counter()
    for step in range(args.steps):
        inputs, targets = batches(train, args.context, args.batch, rng)
        _, loss = model(inputs, targets)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.3f}  lr {schedule.get_last_lr()[0]:.2e}  "
                  f"{time.perf_counter() - start:6.1f} s", flush=True)
    seconds = time.perf_counter() - start
    final = held_out_loss(model, held_out, args.context, args.batch, rng)
    print(f"held-out loss {initial:.3f} -> {final:.3f} nats per character; "
          f"training {seconds:.1f} s ({1000 * seconds / args.steps:.0f} ms per step)")

    prompt = torch.from_numpy(np.array([[index[c] for c in "The data"]], dtype=np.int64))
    sample = model.generate(prompt, 200)[0].tolist()
    print("sample:", repr("".join(chars[i] for i in sample)))
    print("RESULT " + json.dumps({"example": "gpt_char", "lib": LIB, "held_out_loss": round(final, 4),
                                  "initial_loss": round(initial, 4), "train_seconds": round(seconds, 2),
                                  "steps": args.steps}))


if __name__ == "__main__":
    main()
