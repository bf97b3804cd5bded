"""HALO trainers: BC, DPO and GRPO for the worker model with trl + peft, and ``halo demo``.

The learning loop::

    halo rollouts ... / halo eval ...          # trajectories in data/trajectories/
    halo export --out data/datasets             # bc.jsonl, dpo.jsonl (+ _val), summary.json
    halo train bc   --dataset data/datasets/bc.jsonl  --base-model Qwen/Qwen2.5-3B-Instruct --output checkpoints/qwen_bc
    halo train dpo  --dataset data/datasets/dpo.jsonl --base-model checkpoints/qwen_bc --output checkpoints/qwen_dpo
    halo train grpo --dataset data/datasets/bc.jsonl  --base-model checkpoints/qwen_bc --output checkpoints/qwen_grpo
    vllm serve Qwen/Qwen2.5-3B-Instruct --enable-lora --lora-modules qwen_bc=checkpoints/qwen_bc
    halo eval --mode qwen_worker_bc                       # vllm:qwen_bc
    halo eval --mode qwen_worker_bc --worker-backend local:checkpoints/qwen_bc

Python API: :func:`train_bc`, :func:`train_dpo`, :func:`train_grpo` (keyword options of
:class:`TrainOptions`, each returns the output directory), the reward functions in
:mod:`halo_plugin_trainers.rewards`, and :func:`run_demo`.
"""

from ._common import TrainingError, TrainOptions

__all__ = ["TrainOptions", "TrainingError", "run_demo", "train_bc", "train_dpo", "train_grpo"]


def train_bc(**options):
    from .bc import train_bc as run

    return run(**options)


def train_dpo(**options):
    from .dpo import train_dpo as run

    return run(**options)


def train_grpo(**options):
    from .grpo import train_grpo as run

    return run(**options)


def run_demo(**options):
    from .demo import run_demo as run

    return run(**options)
