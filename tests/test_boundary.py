"""The plugin boundary: the core names no first-party plugin and imports none.

Plugins extend HALO through hooks; if the core knew a plugin by name (a config key, a
decision source, a counter, a CLI option), a third party could not do what that plugin
does. Comments may use the words generically; code, strings and docstrings may not.
"""

import io
import re
import tokenize
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "halo_core"
PLUGIN_WORDS = re.compile(r"\b(vac|macros?|qwen|agisdk|webclones|leaderboard)\b", re.I)


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
