"""Per-call backend options: declared by the backend, supplied per decision by plugins."""

from __future__ import annotations

import attrs
import pytest
from helpers import EXPERT_PATH, shop_env, shop_task

from halo_core import hookimpl, mode_config, run_episode
from halo_core.backends import BackendConfigError, Completion, declared_options, options_for, parse_options
from halo_core.testing import make_runtime


@attrs.frozen
class PageOptions:
    ids: frozenset = frozenset()
    style: str = "plain"


class OptionBackend:
    """Answers the expert path; declares two options and records those of every call."""

    name, supports_images = "test:options", False
    Options = PageOptions

    def __init__(self) -> None:
        self.replies = list(EXPERT_PATH)
        self.received = []

    def complete(self, messages, *, temperature=None, seed=None, max_tokens=None, options=None):
        self.received.append(parse_options(self, options))
        return Completion(self.replies.pop(0))

    def check(self):
        return None


class OldBackend:
    """A backend written before call options: ``complete(messages)`` only."""

    name, supports_images = "test:old", False

    def __init__(self) -> None:
        self.replies = list(EXPERT_PATH)

    def complete(self, messages):
        return Completion(self.replies.pop(0))

    def check(self):
        return None


class PageIds:
    @hookimpl
    def halo_call_options(self, role, backend, messages, observation, episode):
        return {"ids": frozenset(observation.valid_bids), "beam_width": 3}


def test_hook_halo_call_options(tmp_path):
    backend = OptionBackend()
    result = run_episode(shop_task(), mode_config("baseline_worker"), shop_env(), make_runtime(PageIds()),
                         data_dir=tmp_path, backends={"worker": backend})
    assert result.success
    assert backend.received and all(isinstance(o, PageOptions) for o in backend.received)
    assert all(o.ids for o in backend.received)  # each call carries its page's ids; the undeclared one is dropped
    old = run_episode(shop_task(), mode_config("baseline_worker"), shop_env(), make_runtime(PageIds()),
                      data_dir=tmp_path, backends={"worker": OldBackend()})
    assert old.success  # a backend that declares nothing is called as before


def test_options_are_declared_filtered_and_refused():
    backend = OptionBackend()
    assert declared_options(backend) == {"ids", "style"}
    assert declared_options(OldBackend()) == frozenset()
    assert options_for(backend, [{"style": "a", "beam_width": 2}, None, {"style": "b", "ids": {"1"}}]) == \
        {"style": "a", "ids": {"1"}}
    assert options_for(OldBackend(), [{"style": "a"}]) == {}
    with pytest.raises(BackendConfigError, match="test:options takes no option 'beam_width'"):
        parse_options(backend, {"beam_width": 2})
