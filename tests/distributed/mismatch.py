"""Ranks that built different models: broadcast_parameters raises on every rank.

    mpiexec -n 2 python mismatch.py
"""

from kiln import distributed as dist
from kiln import nn

dist.init()
model = nn.Linear(4, 3 + dist.rank())
dist.broadcast_parameters(model)
