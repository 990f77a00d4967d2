"""Multi-task training as in MultiEdit: by data (DMTL) and by loss (LMTL). Both off by default.

- DMTL: tasks are grouped (e.g. by difficulty); each batch slot picks a group with the weights of
  the current *stage*, then an example of that group. Stages change the weights over training,
  e.g. (1.5, 1, 2, 10) until step 2000, then (1.5, 1, 3.5, 20).
- LMTL: per-sample loss weights, either by inverse frequency of the sample's group in the batch
  (each group present contributes equally) or by gradient norm (groups whose gradients are
  smaller get more weight, so every group moves the shared weights by a similar amount).

    >>> schedule = DMTLSchedule({"hard": ["count"], "easy": ["color"]},
    ...                         [{"until_step": 100, "weights": {"hard": 3, "easy": 1}}, {"weights": {"hard": 1, "easy": 1}}])
    >>> schedule.weights_at(0), schedule.weights_at(100)
    ({'hard': 3.0, 'easy': 1.0}, {'hard': 1.0, 'easy': 1.0})
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from editlab.errors import EditlabError, require

OTHER = "other"


class TaskGroups:
    """task -> group; tasks not listed belong to the group 'other'."""

    def __init__(self, groups: Mapping[str, Sequence[str]]):
        self.groups = {name: list(tasks) for name, tasks in groups.items()}
        self._group_of: dict[str, str] = {}
        for name, tasks in self.groups.items():
            for task in tasks:
                if task in self._group_of:
                    raise EditlabError(f"task {task!r} is in two task groups ({self._group_of[task]!r} and {name!r}); "
                                       "put each task in one group")
                self._group_of[task] = name

    def group_of(self, task: str) -> str:
        return self._group_of.get(task, OTHER)

    def names(self) -> list[str]:
        return [*self.groups, OTHER]


class DMTLSchedule:
    def __init__(self, groups: Mapping[str, Sequence[str]], stages: Sequence[Mapping[str, Any]]):
        self.groups = TaskGroups(groups)
        self.stages = []
        last_until = -1
        for i, stage in enumerate(stages):
            until = stage.get("until_step")
            if until is None and i != len(stages) - 1:
                raise EditlabError(f"dmtl_stages[{i}] has no until_step; only the last stage may be open-ended")
            if until is not None and until <= last_until:
                raise EditlabError(f"dmtl_stages[{i}].until_step={until} must increase from stage to stage")
            last_until = until if until is not None else last_until
            weights = {str(k): float(v) for k, v in stage["weights"].items()}
            if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
                raise EditlabError(f"dmtl_stages[{i}].weights must be >= 0 with at least one > 0")
            self.stages.append((until, weights))

    def stage_at(self, step: int) -> int:
        for i, (until, _) in enumerate(self.stages):
            if until is None or step < until:
                return i
        return len(self.stages) - 1

    def weights_at(self, step: int) -> dict[str, float]:
        return dict(self.stages[self.stage_at(step)][1])


def inverse_frequency_weights(groups: Sequence[str]):
    """Per-sample weights 1/count(group in batch), normalised to mean 1."""
    torch = require("torch", "train")
    counts = Counter(groups)
    weights = torch.tensor([1.0 / counts[g] for g in groups])
    return weights * (len(groups) / weights.sum())


def gradnorm_weights(per_sample_loss, groups: Sequence[str], shared_parameters: Sequence[Any], eps: float = 1e-8):
    """Per-sample weights from each group's gradient norm on `shared_parameters` (normalised to mean 1).

    A group's weight is proportional to mean_norm / its_norm, so after weighting every group's
    gradient on the shared layer has about the same size. Costs one extra backward per group
    through the shared parameters only (use the output layer: cheap).
    """
    torch = require("torch", "train")
    names = sorted(set(groups))
    if len(names) == 1:
        return torch.ones(len(groups), device=per_sample_loss.device)
    index = torch.tensor([names.index(g) for g in groups], device=per_sample_loss.device)
    norms = []
    for k in range(len(names)):
        group_loss = per_sample_loss[index == k].mean()
        grads = torch.autograd.grad(group_loss, list(shared_parameters), retain_graph=True, allow_unused=True)
        norms.append(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)))
    norms = torch.stack(norms).detach()
    group_weights = norms.mean() / (norms + eps)
    weights = group_weights[index]
    return weights * (len(groups) / weights.sum())
