"""``python -m kiln``: kiln's main job, the kernel demo (see kiln/_demo.py)."""

from ._demo import main

main()
