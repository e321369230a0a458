"""all_reduce and DistributedDataParallel on the cuda device (real or emulated): staged through
host memory unless the MPI is CUDA-aware; prints one line per rank.

    mpiexec -n 2 python device_buffers.py
"""

import numpy as np

import kiln
from kiln import distributed as dist
from kiln import nn

dist.init()
t = kiln.full((3,), float(dist.rank() + 1), device="cuda")
dist.all_reduce(t)  # mean of 1 and 2
kiln.manual_seed(dist.rank())
model = nn.Linear(4, 3).to("cuda")
ddp = dist.DistributedDataParallel(model)
opt = kiln.optim.SGD(ddp.parameters(), lr=0.5)
x = kiln.tensor(np.full((2, 4), dist.rank() + 1.0, np.float32), device="cuda")
for _ in range(3):
    opt.zero_grad()
    ddp(x).square().sum().backward()
    opt.step()
weights = model.weight.detach().cpu().numpy()
gathered = dist._world.comm.allgather(weights)
print(f"rank {dist.rank()}: mean={t.cpu().numpy().tolist()} same={np.array_equal(gathered[0], gathered[1])}",
      flush=True)
