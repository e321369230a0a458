"""A parameter that takes no part in the loss: the next forward raises on every rank.

    mpiexec -n 2 python unused_parameter.py
"""

import kiln
from kiln import distributed as dist
from kiln import nn


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.used, self.unused = nn.Linear(3, 2), nn.Linear(3, 2)

    def forward(self, x):
        return self.used(x)


dist.init()
model = dist.DistributedDataParallel(TwoHeads())
opt = kiln.optim.SGD(model.parameters(), lr=0.1)
for _ in range(2):
    opt.zero_grad()
    model(kiln.ones(4, 3)).sum().backward()
    opt.step()
