"""Samplers by short name, built from a pipeline's own scheduler config.

`make_scheduler("dpm++2m", pipe.scheduler.config)` keeps the model's noise schedule (betas,
prediction type, timestep spacing) and swaps only the solver, as diffusers recommends
(`Scheduler.from_config(pipe.scheduler.config)`).

    >>> sorted(SCHEDULERS)[:3]
    ['ddim', 'dpm++2m', 'dpm++2m-karras']
"""

from __future__ import annotations

import difflib
from typing import Any

from editlab.errors import EditlabError

#: name -> (diffusers scheduler class, config overrides)
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler-ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "dpm++2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpm++2m-karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "unipc": ("UniPCMultistepScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    "lms": ("LMSDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
}


def scheduler_names() -> list[str]:
    return sorted(SCHEDULERS)


def make_scheduler(name: str, base_config: Any):
    """A fresh scheduler of kind `name` on the noise schedule of `base_config`."""
    import diffusers

    if name not in SCHEDULERS:
        close = difflib.get_close_matches(name, SCHEDULERS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise EditlabError(f"unknown scheduler {name!r}: {hint}choose one of: {', '.join(scheduler_names())}")
    class_name, overrides = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(base_config, **overrides)


def copy_scheduler(scheduler):
    """An independent scheduler of the same class and config (schedulers carry per-run state)."""
    return type(scheduler).from_config(scheduler.config)


def describe_scheduler(scheduler) -> dict[str, Any]:
    keys = ("prediction_type", "timestep_spacing", "beta_schedule", "algorithm_type", "solver_order",
            "use_karras_sigmas", "num_train_timesteps")
    config = {key: scheduler.config[key] for key in keys if key in scheduler.config}
    return {"class": type(scheduler).__name__, **config}
