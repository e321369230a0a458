"""Rank 1 raises while rank 0 waits in a collective: the job must end, not hang.

    mpiexec -n 2 python raise_on_rank.py      # exits non-zero within seconds, the error printed
"""

import kiln
from kiln import distributed as dist

dist.init()
t = kiln.ones(4)
dist.all_reduce(t)
if dist.rank() == 1:
    raise RuntimeError("rank 1 failed on purpose")
dist.barrier()  # rank 0 would wait here forever without the abort
dist.all_reduce(t)
