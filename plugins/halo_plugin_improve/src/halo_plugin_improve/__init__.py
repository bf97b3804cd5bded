"""HALO's improvement loop: traces → human and model feedback → evals → a gate → a handoff.

* ``halo feedback judge RUN_DIR --backend prefix:model`` — a model's structured feedback
  per episode, stored beside human feedback (:func:`judge_episodes`).
* ``halo evals generate RUN_DIR`` — an eval suite from the feedback (:func:`generate_suite`).
* ``halo evals run SUITE --run RUN_DIR`` — the gate: JUnit XML, JSON, exit status (:func:`run_suite`).
* ``halo evals export SUITE --run RUN_DIR --promptfoo`` — the same suite for Promptfoo.
* ``halo improve RUN_DIR [--loop]`` — context → analysis → ``improvement_handoff.md``.
"""

__version__ = "0.1.0"

from halo_plugin_improve._gate import GateResult, run_suite, write_junit  # noqa: E402
from halo_plugin_improve._judge import judge_episodes, validate_judgement  # noqa: E402
from halo_plugin_improve._suite import EvalCase, EvalSuite, generate_suite, load_suite, write_suite  # noqa: E402

__all__ = ["EvalCase", "EvalSuite", "GateResult", "__version__", "generate_suite", "judge_episodes", "load_suite",
           "run_suite", "validate_judgement", "write_junit", "write_suite"]
