"""K steps of the digits MLP or CNN (kiln.nn), data-parallel or in one process, weights saved.

    mpiexec -n 2 python ddp_digits.py mlp 6 OUT      # each rank: OUT/rank{r}.npz
    python ddp_digits.py mlp 6 OUT --single 2        # one process on the 2 shards concatenated

Each rank starts from different random weights (seeded by rank) so that only
broadcast_parameters can make them agree; the single process starts from rank 0's.
"""

import argparse
import os

import numpy as np
from sklearn.datasets import load_digits

import kiln
from kiln import distributed as dist
from kiln import nn
from kiln.utils.data import DataLoader, TensorDataset


def build(kind):
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64, 10))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["mlp", "cnn"])
    parser.add_argument("steps", type=int)
    parser.add_argument("out")
    parser.add_argument("--single", type=int, default=0, help="one process standing for this many ranks")
    parser.add_argument("--batch", type=int, default=16, help="per rank")
    args = parser.parse_args()

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]  # (n, 1, 8, 8)
    y = digits.target.astype(np.int64)
    data = TensorDataset(kiln.tensor(x), kiln.tensor(y))

    if args.single:
        world, me = args.single, 0
    else:
        dist.init()
        world, me = dist.world_size(), dist.rank()
    kiln.manual_seed(100 + me)
    model = build(args.kind)
    if not args.single:
        model = dist.DistributedDataParallel(model)
    params = list(model.parameters())
    opt = kiln.optim.SGD(params, lr=0.1, momentum=0.9) if args.kind == "mlp" else kiln.optim.Adam(params, lr=0.01)
    loss_fn = nn.CrossEntropyLoss()

    ranks = range(world) if args.single else [me]
    loaders = [DataLoader(data, batch_size=args.batch,
                          sampler=dist.DistributedSampler(data, num_replicas=world, rank=r, seed=7))
               for r in ranks]
    step = 0
    for epoch in range(10):
        for loader in loaders:
            loader.sampler.set_epoch(epoch)
        for batches in zip(*loaders):
            xb = kiln.cat([b[0] for b in batches])
            yb = kiln.cat([b[1] for b in batches])
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            step += 1
            if step == args.steps:
                break
        if step == args.steps:
            break
    os.makedirs(args.out, exist_ok=True)
    net = model.module if not args.single else model
    np.savez(os.path.join(args.out, f"rank{me}.npz"),
             **{name: p.detach().numpy() for name, p in net.named_parameters()})


if __name__ == "__main__":
    main()
