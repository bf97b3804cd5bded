"""The ``real`` task suite: REAL Bench v2 tasks from agisdk, run in HALO's browser.

Task ids are always ``v2.<site>-<n>``. Ids that look like REAL tasks but are not
runnable are *claimed* so that they are refused with a useful message instead of
falling through to "unknown task": a bare ``omnizon-13`` (agisdk would silently run
v1), a ``v1.*`` id, an unknown ``v2.*`` id (closest ids are listed).
"""

from __future__ import annotations

import difflib
import os
import re
import warnings
from functools import cached_property
from pathlib import Path
from typing import Any

import attrs

from halo_core.api import EnvSettings, Evaluation, TaskNotFound, TaskSpec

from .catalog import SUPPORTED_VERSION, SUITE_NAME, Layout, agisdk_layout, site_of, task_hash, to_spec
from .protocol import RealProtocolEnvironment
from .registry import Registry, RegistryError, TaskRegistryMismatch, load_registry, mismatch_policy, registry_path_from
from .scoring import AgisdkScorer, submit_script_result

__all__ = ["RealSuite", "RealEnvironment", "RegistryMismatchWarning", "KNOWN_REFUSING_SITES"]

#: Sites known to answer HTTP 451 (refusing service). agisdk 0.3.5 keeps no such list,
#: so this is empty and the environment's own 451 detection reports them.
KNOWN_REFUSING_SITES: dict[str, str] = {}

_VERSIONED = re.compile(r"^(v\d+)\.(.+)$")
_TASK_NAME = re.compile(r"^[a-z][a-z0-9_-]*-\d+$", re.I)


class RegistryMismatchWarning(UserWarning):
    """Pinned tasks whose content changed since the registry snapshot."""


class RealEnvironment(RealProtocolEnvironment):
    """A REAL site: ``/config?run_id&task_id=v2.<name>`` on reset, agisdk's evaluator on ``/finish``.

    With a leaderboard run id (``settings.run_id`` not ``"0"``) results are submitted
    as agisdk's harness submits them.
    """

    def __init__(self, settings: EnvSettings | None = None, *, scorer: AgisdkScorer, **kwargs: Any) -> None:
        super().__init__(settings, scorer=scorer, config_task_id=lambda task: task.id, **kwargs)

    def evaluate(self, final_message: str, infeasible: bool) -> Evaluation:
        if self.task is None:
            return super().evaluate(final_message, infeasible)
        finish = self.finish_state()
        evaluation = self.scorer(self.task, finish, final_message, infeasible)
        run_id = str(self.settings.run_id)
        if run_id not in ("", "0") and evaluation.info.get("evaluated"):
            info = dict(evaluation.info)
            if any(e.get("script") for e in self.task.evals):
                info.update(submit_script_result(run_id, self.task, finish, final_message, evaluation.reward))
            else:
                info.update(self._submit_answer(final_message))
            evaluation = attrs.evolve(evaluation, info=info)
        return evaluation

    def _submit_answer(self, final_message: str) -> dict:
        """agisdk's legacy leaderboard path for non-script tasks: ``/submit?retrieved_answer=``."""
        from urllib.parse import quote

        try:
            page = self._background_page()
            response = page.goto(f"{self.base}/submit?retrieved_answer={quote(final_message or 'Done')}",
                                 timeout=max(2000.0, float(self.settings.navigation_timeout_ms)))
            status = response.status if response is not None else 0
            return {"leaderboard_submitted": 0 < status < 400, "leaderboard_status": status}
        except Exception as exc:
            return {"leaderboard_submitted": False, "leaderboard_error": f"{type(exc).__name__}: {str(exc)[:200]}"}


class RealSuite:
    """REAL Bench v2 through agisdk. See the module docstring and :mod:`halo_plugin_real.registry`.

    ``registry``: a snapshot path to pin the task list to (``"none"`` disables the
    automatic ``$HALO_TASK_REGISTRY`` / ``configs/real_v2_task_registry.json``).
    ``tasks_dir``: a directory in agisdk's layout (``tasks/`` + ``eval_scripts/``) to
    take the tasks from instead of the installed agisdk (REAL-format tasks of your own).
    """

    name = SUITE_NAME
    reuse_environments = True

    def __init__(self, *, registry: str | os.PathLike | None = None, tasks_dir: str | os.PathLike | None = None,
                 version: str = SUPPORTED_VERSION) -> None:
        if version != SUPPORTED_VERSION:
            raise ValueError(f"only REAL task version {SUPPORTED_VERSION} is supported, not {version!r}")
        self._registry_arg = registry
        self._tasks_dir = Path(tasks_dir) if tasks_dir is not None else None
        self.version = version
        self._warned: set[str] = set()

    # ------------------------------------------------------------------ catalogue

    @cached_property
    def layout(self) -> Layout:
        if self._tasks_dir is not None:
            return Layout(root=self._tasks_dir, version=self.version, source="local")
        return agisdk_layout(self.version)

    @cached_property
    def _names(self) -> list[str]:
        return self.layout.names()

    @cached_property
    def _name_set(self) -> frozenset[str]:
        return frozenset(self._names)

    @cached_property
    def sites(self) -> tuple[str, ...]:
        return tuple(sorted({to_spec(self.layout.load(n), self.version, n).site for n in self._names}))

    @cached_property
    def _real_sites(self) -> frozenset[str]:
        """Site names of every REAL version agisdk ships (to claim bare ids like ``omnizon-13``)."""
        sites = {site_of(n) for n in self._names}
        try:
            root = agisdk_layout(self.version).root.parent
            for vdir in root.iterdir():
                if (vdir / "tasks").is_dir():
                    sites.update(site_of(p.stem) for p in (vdir / "tasks").glob("*.json"))
        except (OSError, FileNotFoundError):
            pass
        return frozenset(sites)

    def registry(self, task_registry: Any = None) -> Registry | None:
        path = registry_path_from(task_registry, self._registry_arg)
        return load_registry(path) if path else None

    # ------------------------------------------------------------------ Suite protocol

    def claims(self, task_id: str) -> bool:
        tid = _strip(task_id)
        if _VERSIONED.match(tid):
            return True
        return bool(_TASK_NAME.match(tid)) and site_of(tid) in self._real_sites

    def list_tasks(self, *, site: str | None = None, split: str | None = None, task_registry: Any = None,
                   task_version: str | None = None) -> list[TaskSpec]:
        _check_version(task_version)
        if site is not None and site not in self.sites:
            close = difflib.get_close_matches(site, self.sites, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise TaskNotFound(f"REAL {self.version} has no site {site!r}{hint} (sites: {', '.join(self.sites)})")
        registry = self.registry(task_registry)
        names = self._names
        if registry is not None:
            names = self._pinned_names(registry)
        out = []
        for name in names:
            spec = to_spec(self.layout.load(name), self.version, name)
            if site is not None and spec.site != site:
                continue
            if split is not None and spec.split != split:
                continue
            out.append(spec)
        return out

    def resolve(self, task_id: str, *, task_registry: Any = None, task_version: str | None = None) -> TaskSpec:
        _check_version(task_version)
        name = self._name_of(task_id)
        spec = to_spec(self.layout.load(name), self.version, name)
        registry = self.registry(task_registry)
        if registry is not None:
            self._check_pinned(spec, registry)
        return spec

    def make_environment(self, task: TaskSpec, settings: EnvSettings,
                         leaderboard_run_id: str | None = None) -> RealEnvironment:
        run_id = (leaderboard_run_id or os.environ.get("RUNID", "")).strip()
        if run_id and str(settings.run_id) in ("", "0"):
            # agisdk gives $RUNID priority over everything; HALO does when no run id was chosen
            settings = attrs.evolve(settings, run_id=run_id)
        return RealEnvironment(settings, scorer=AgisdkScorer(self.layout))

    def snapshot(self) -> dict:
        """The registry snapshot document of every task this suite has (for ``halo tasks snapshot``)."""
        from .registry import build_snapshot

        return build_snapshot(self.layout)

    # ------------------------------------------------------------------ ids

    def _name_of(self, task_id: str) -> str:
        """``v2.<name>`` -> ``<name>``, or TaskNotFound with one clear line."""
        raw_id = str(task_id)
        tid = _strip(raw_id)
        match = _VERSIONED.match(tid)
        if match is None:
            if tid in self._name_set:
                raise TaskNotFound(f"task id {raw_id!r} has no version prefix; REAL task ids are "
                                   f"{self.version}.<site>-<n>: use '{self.version}.{tid}' (agisdk would silently run v1)")
            raise TaskNotFound(f"task id {raw_id!r} has no version prefix and no REAL {self.version} task is named "
                               f"{tid!r}{self._closest(f'{self.version}.{tid}')}")
        version, name = match.groups()
        if version != self.version:
            same = f"; did you mean '{self.version}.{name}'?" if name in self._name_set else ""
            if version == "v1":
                raise TaskNotFound(f"REAL v1 tasks are not supported ({raw_id!r}): HALO runs REAL Bench "
                                   f"{self.version} only{same}")
            raise TaskNotFound(f"unknown REAL task version {version!r} in {raw_id!r}: HALO runs REAL Bench "
                               f"{self.version} only{same}")
        if name not in self._name_set:
            raise TaskNotFound(f"unknown REAL task {raw_id!r}{self._closest(f'{self.version}.{name}')}")
        return name

    def _closest(self, wanted: str) -> str:
        known = [f"{self.version}.{n}" for n in self._names]
        close = difflib.get_close_matches(wanted, known, n=5, cutoff=0.6)
        site = site_of(wanted.split(".", 1)[-1])
        same_site = [k for k in known if site_of(k.split(".", 1)[1]) == site]
        if not close and same_site:
            close = same_site[:5]
        if close:
            extra = f" ({site} has {len(same_site)} tasks)" if same_site else ""
            return f"; closest: {', '.join(close)}{extra}"
        return f"; see `halo tasks --suite {self.name}`"

    # ------------------------------------------------------------------ registry pinning

    def _pinned_names(self, registry: Registry) -> list[str]:
        names = []
        missing = []
        changed = []
        for tid in registry.ids:
            match = _VERSIONED.match(tid)
            name = match.group(2) if match else tid
            if name not in self._name_set:
                missing.append(tid)
                continue
            if task_hash(self.layout.load(name), self.layout) != registry.hashes[tid]:
                changed.append(tid)
            names.append(name)
        key = f"{registry.path}:{len(missing)}:{len(changed)}"
        if (missing or changed) and key not in self._warned:
            self._warned.add(key)
            parts = []
            if changed:
                parts.append(f"{len(changed)} changed since the snapshot ({', '.join(changed[:5])}"
                             f"{', …' if len(changed) > 5 else ''})")
            if missing:
                parts.append(f"{len(missing)} missing from agisdk ({', '.join(missing[:5])}"
                             f"{', …' if len(missing) > 5 else ''}; not listed)")
            policy = "they run anyway" if mismatch_policy() == "warn" else "running them is refused"
            warnings.warn(f"task registry {registry.path}: {'; '.join(parts)}; {policy} "
                          f"(re-snapshot with `halo tasks snapshot --suite real --out {registry.path}`)",
                          RegistryMismatchWarning, stacklevel=3)
        return names

    def _check_pinned(self, spec: TaskSpec, registry: Registry) -> None:
        if spec.id not in registry.hashes:
            raise TaskNotFound(f"task {spec.id!r} is not in the task registry {registry.describe()}; "
                               f"re-snapshot or pass --task-registry none")
        name = spec.id.split(".", 1)[1]
        current = task_hash(self.layout.load(name), self.layout)
        pinned = registry.hashes[spec.id]
        if current != pinned:
            message = (f"task {spec.id!r} changed since the task registry snapshot {registry.describe()}: "
                       f"sha256 {current[:12]} now vs {pinned[:12]} pinned; re-snapshot with "
                       f"`halo tasks snapshot --suite real --out {registry.path}` or set "
                       f"HALO_TASK_REGISTRY_MISMATCH=warn to run it anyway")
            if mismatch_policy() == "warn":
                warnings.warn(message, RegistryMismatchWarning, stacklevel=3)
            else:
                raise TaskRegistryMismatch(message)


def _strip(task_id: str) -> str:
    tid = str(task_id).strip()
    if tid.startswith("browsergym/"):
        tid = tid[len("browsergym/"):]
    return tid


def _check_version(task_version: str | None) -> None:
    if task_version is not None and str(task_version).strip() not in ("", SUPPORTED_VERSION):
        raise TaskNotFound(f"REAL task version {task_version!r} is not supported: HALO runs REAL Bench "
                           f"{SUPPORTED_VERSION} only (--task-version {SUPPORTED_VERSION})")


__all__ += ["RegistryError"]
