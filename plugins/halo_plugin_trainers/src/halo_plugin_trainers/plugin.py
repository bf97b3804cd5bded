"""HALO plugin: registers the ``bc``, ``dpo`` and ``grpo`` trainers and the ``halo train`` /
``halo demo`` commands. Heavy imports (torch, trl) happen only when a trainer runs."""

from __future__ import annotations

from halo_core import hookimpl


def _lazy(name: str):
    def trainer(**options):
        from importlib import import_module

        module = import_module(f"halo_plugin_trainers.{name}")
        return getattr(module, f"train_{name}")(**options)

    trainer.__name__ = f"train_{name}"
    return trainer


@hookimpl
def halo_register_trainers(register):
    register("bc", _lazy("bc"), description="behavioural cloning: trl SFTTrainer, loss on the action (LoRA)")
    register("dpo", _lazy("dpo"), description="direct preference optimisation: trl DPOTrainer (LoRA)")
    register("grpo", _lazy("grpo"), description="GRPO: trl GRPOTrainer, action rewards (+ online task success)")


@hookimpl
def halo_register_commands(cli):
    from .commands import train_group
    from .demo import demo_command

    if "train" not in cli.commands:
        cli.add_command(train_group)
    if "demo" not in cli.commands:
        cli.add_command(demo_command)
