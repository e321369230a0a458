"""L-BFGS as torch.optim.LBFGS without a line search (line_search_fn=None, torch's default).

The two-loop recursion works on one flat vector of all the parameters; it runs in float64 on
the host (a few vector operations per inner iteration, next to a whole forward and backward
pass of the closure), and the step is written back into the optimizer's flat buffer.
"""

from __future__ import annotations

import numpy as np

from .. import versions
from .optimizer import Optimizer, _hyperparameter


class LBFGS(Optimizer):
    """``step(closure)`` runs up to ``max_iter`` L-BFGS iterations (``closure`` re-evaluates the
    loss and its gradients and returns the loss), with torch's rules: the first step of size
    min(1, 1/|g|_1) * lr, then lr; stop when the gradient's largest entry is <= tolerance_grad,
    the step or the loss change is <= tolerance_change, or ``max_eval`` evaluations were made;
    ``history_size`` curvature pairs kept. Returns the closure's first loss."""

    def __init__(self, params, lr: float = 1.0, max_iter: int = 20, max_eval=None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100, line_search_fn=None):
        if line_search_fn is not None:
            raise NotImplementedError(f"LBFGS: line_search_fn={line_search_fn!r} is not supported by kiln "
                                      "(only None, torch's default)")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=int(max_iter), max_eval=int(max_eval),
                                      tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                                      history_size=int(history_size), line_search_fn=None))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    def _check_group(self, group):
        super()._check_group(group)
        for name in ("tolerance_grad", "tolerance_change"):
            group[name] = _hyperparameter("LBFGS", name, group[name])
        for name in ("max_iter", "max_eval", "history_size"):
            if group[name] < 1:
                raise ValueError(f"LBFGS: {name} must be a positive integer, got {group[name]}")

    def _init_state(self, flat, group):
        return {"func_evals": 0, "n_iter": 0}

    def _flat_grad(self) -> np.ndarray:
        """All gradients as one float64 vector (zeros for parameters without one, as torch)."""
        flat = self._flat[0]
        have = flat.collect_grads()
        grad = flat.backend.to_numpy(flat.grad).astype(np.float64)
        if len(have) != len(flat.params):
            mask = np.zeros(grad.shape, bool)
            for i in have:
                mask[flat.segment(i)] = True
            grad[~mask] = 0.0
        return grad

    def _add(self, step: np.ndarray) -> None:
        flat = self._flat[0]
        be = flat.backend
        data = be.to_numpy(flat.data)
        be.copy_into(flat.data, be.from_numpy((data.astype(np.float64) + step).astype(data.dtype)))
        versions.bump(flat.data)

    def step(self, closure):
        if closure is None:
            raise ValueError("LBFGS.step needs a closure that re-evaluates the model and returns the loss")
        group, state = self.param_groups[0], self.state[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]

        orig_loss = closure()
        loss = float(orig_loss.item())
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag, prev_flat_grad, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(y @ s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / float(y @ y)
                # the two-loop recursion: d = -H g
                al = [0.0] * len(old_dirs)
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = float(old_stps[i] @ q) * ro[i]
                    q = q - al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(len(old_dirs)):
                    be_i = float(old_dirs[i] @ r) * ro[i]
                    r = r + (al[i] - be_i) * old_stps[i]
                d = r
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = float(flat_grad @ d)
            if gtd > -tolerance_change:  # not a descent direction
                break
            self._add(t * d)
            ls_func_evals = 0
            opt_cond = False
            if n_iter != max_iter:
                loss = float(closure().item())
                flat_grad = self._flat_grad()
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break
        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss
