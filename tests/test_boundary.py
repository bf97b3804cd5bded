"""The plugin boundary: the core names no first-party plugin and imports none.

Plugins extend HALO through hooks; if the core knew a plugin by name (a config key, a
decision source, a counter, a CLI option), a third party could not do what that plugin
does. Comments may use the words generically; code, strings and docstrings may not.
"""

import ast
import importlib
import io
import re
import tokenize
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "halo_core"
# REAL (the benchmark) is matched in capitals only: in lower case "real" is an English word
# the core uses for itself (an exported pair's ``source: real`` is an observed one).
PLUGIN_WORDS = re.compile(r"\b(?i:vac|macros?|qwen|agisdk|webclones|miniwob|leaderboard|openai|anthropic|litellm)\b"
                          r"|\bREAL\b")


def _code_tokens(path: Path):
    source = path.read_text(encoding="utf-8")
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.NAME, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1)):
            yield tok


def test_core_code_names_no_first_party_plugin():
    found = []
    for path in sorted(CORE.rglob("*.py")):
        for tok in _code_tokens(path):
            if PLUGIN_WORDS.search(tok.string):
                found.append(f"{path.relative_to(CORE.parent)}:{tok.start[0]}: {tok.string[:80]!r}")
    assert not found, "the core names a first-party plugin:\n" + "\n".join(found)


def test_core_imports_no_plugin_package():
    found = []
    for path in sorted(CORE.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.match(r"\s*(from|import)\s+halo_plugin_", line):
                found.append(f"{path.relative_to(CORE.parent)}:{number}: {line.strip()}")
    assert not found, "the core imports a plugin:\n" + "\n".join(found)


def test_core_config_and_results_name_no_plugin():
    import attrs

    from halo_core.config import AgentConfig
    from halo_core.model import EpisodeResult, StepRecord

    for cls in (AgentConfig, EpisodeResult, StepRecord):
        names = " ".join(a.name for a in attrs.fields(cls))
        assert not PLUGIN_WORDS.search(names) and "cache" not in names, (cls.__name__, names)


def test_every_built_in_feature_is_still_available_through_its_plugin():
    from halo_core.config import mode_config
    from halo_core.runtime import Runtime

    runtime = Runtime()
    for source in ("vac", "macro", "expert", "worker", "manager", "recovery"):
        assert source in runtime.decision_sources, source
    assert {"use_vac", "cache_scope", "use_macros", "use_recovery"} <= set(runtime.options.options)
    full = mode_config("hierarchy_vac_macros", env={}, runtime=runtime)
    assert full.get("use_vac") and full.get("use_macros") and full.use_manager
    assert {"cache_hit_rate", "cache_hits_per_step", "macro_steps"} <= set(runtime.metrics.columns)


# --------------------------------------------------------------------------- the plugin API line
#
# First-party plugins are written as a third party would write theirs: they import the core
# only through its public API (``halo_core.api``, the names ``halo_core`` re-exports, and
# ``halo_core.testing`` for test helpers), import other plugins only through their public names (never a
# ``_module``), and declare every plugin they import in their pyproject.

PLUGINS = CORE.parent / "plugins"
PUBLIC_CORE_MODULES = {"halo_core.api", "halo_core.testing"}


def _imports(path: Path):
    """(line, module, names) of every absolute import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []


def _where(path: Path) -> str:
    return str(path.relative_to(CORE.parent)) if path.is_relative_to(CORE.parent) else str(path)


def _plugin_sources():
    for src in sorted(PLUGINS.glob("*/src")):
        for path in sorted(src.rglob("*.py")):
            yield src.parent.name, path


def api_violations(owner: str, path: Path) -> list[str]:
    import halo_core

    found = []
    where = _where(path)
    for line, module, names in _imports(path):
        if module == "halo_core":
            private = [n for n in names if n not in halo_core.__all__]
            if private or not names:
                found.append(f"{where}:{line}: halo_core {private or module!r} is not public")
        elif module.startswith("halo_core.") and module not in PUBLIC_CORE_MODULES:
            found.append(f"{where}:{line}: {module} is not the public API (use halo_core.api)")
    return found


def private_plugin_violations(owner: str, path: Path) -> list[str]:
    found = []
    for line, module, names in _imports(path):
        top = module.split(".")[0]
        if not top.startswith("halo_plugin_") or top == owner:
            continue
        if any(part.startswith("_") for part in module.split(".")[1:]) or any(n.startswith("_") for n in names):
            found.append(f"{_where(path)}:{line}: {module} {names} is private to {top}")
    return found


def _declared_plugins(plugin_dir: Path) -> set[str]:
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((plugin_dir / "pyproject.toml").read_text())["project"]
    specs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    return {Requirement(s).name.replace("-", "_") for s in specs}


def undeclared_violations(owner: str, path: Path) -> list[str]:
    declared = _declared_plugins(PLUGINS / owner)
    found = []
    for line, module, _names in _imports(path):
        top = module.split(".")[0]
        if top.startswith("halo_plugin_") and top != owner and top not in declared:
            found.append(f"{_where(path)}:{line}: imports {top}, which "
                         f"{owner}/pyproject.toml does not declare")
    return found


def test_plugins_import_only_the_core_public_api():
    found = [v for owner, path in _plugin_sources() for v in api_violations(owner, path)]
    assert not found, "plugins import core internals:\n" + "\n".join(found)


def test_plugins_import_no_private_module_of_another_plugin():
    found = [v for owner, path in _plugin_sources() for v in private_plugin_violations(owner, path)]
    assert not found, "\n".join(found)


def test_plugins_declare_every_plugin_they_import():
    found = [v for owner, path in _plugin_sources() for v in undeclared_violations(owner, path)]
    assert not found, "\n".join(found)


def test_the_boundary_checks_catch_each_kind_of_crossing(tmp_path):
    """The checks above would fail on a plugin that crossed the line."""
    owner = "halo_plugin_vac"  # declares no other plugin
    bad = tmp_path / "bad.py"
    bad.write_text("from halo_core.backends_http import RemoteBackend\n"
                   "from halo_core import Runtime, hookimpl, loop\n"
                   "from halo_core.api import TaskSpec\n"
                   "from halo_plugin_traces._spans import make_span\n"
                   "from halo_plugin_traces import _private\n"
                   "import halo_plugin_miniwob\n")
    assert len(api_violations(owner, bad)) == 2  # backends_http; loop (Runtime is re-exported)
    assert len(private_plugin_violations(owner, bad)) == 2
    assert len(undeclared_violations(owner, bad)) == 3  # traces twice, miniwob


def test_every_public_name_resolves_and_covers_the_package_exports():
    import halo_core
    import halo_core.api as api

    for name in api.__all__:
        module, attribute = api.source_of(name)
        assert getattr(api, name) is getattr(importlib.import_module(module), attribute), name
    assert set(halo_core.__all__) <= set(api.__all__)


def test_reference_lists_every_public_name_with_its_module():
    import halo_core.api as api

    text = (CORE.parent / "docs" / "reference.md").read_text(encoding="utf-8")
    section = text.split("## Public API", 1)[1].split("\n## ", 1)[0]
    listed = {}
    for name, module in re.findall(r"^\| `([\w]+)` \| `([\w.]+)` \|", section, re.M):
        listed[name] = module
    expected = {name: api.source_of(name)[0] for name in api.__all__}
    missing = sorted(set(expected) - set(listed))
    extra = sorted(set(listed) - set(expected))
    wrong = sorted(n for n in set(listed) & set(expected) if listed[n] != expected[n])
    assert not (missing or extra or wrong), f"missing {missing}; not public {extra}; wrong module {wrong}"

