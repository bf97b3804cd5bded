"""A hostile world, core side: faulty plugins and bad configuration cannot hurt a run.

(Navigation, forged page text, reports and the command line have their own hostile
tests beside the code they guard.)
"""

import json

import pytest
from helpers import EXPERT_PATH, shop_env, shop_task

from halo_core import hookimpl, mode_config, run_episode
from halo_core.config import ConfigError, load_experiments
from halo_core.testing import ScriptedBackend, make_runtime


def test_a_raising_episode_end_leaves_the_result_intact(tmp_path):
    class Broken:
        @hookimpl
        def halo_episode_end(self, episode, result):
            raise RuntimeError("disk on fire")

    ends = []

    class Witness:  # another plugin's episode_end still runs
        @hookimpl
        def halo_episode_end(self, episode, result):
            ends.append(result.success)

    result = run_episode(shop_task(), mode_config("baseline_worker", env={}), shop_env(),
                         make_runtime(Broken(), Witness()), data_dir=tmp_path,
                         backends={"worker": ScriptedBackend(EXPERT_PATH)})
    assert result.success and result.terminated_by == "message" and not result.error
    assert len(result.plugin_errors) == 1 and "disk on fire" in result.plugin_errors[0]
    assert ends == [True]
    path = tmp_path / "trajectories" / "baseline_worker" / "local" / "graph.shop-1__attempt_0.jsonl"
    end = json.loads(path.read_text().splitlines()[-1])
    assert end["success"] is True and "disk on fire" in end["plugin_errors"][0]


@pytest.mark.parametrize("text,message", [
    ("experiments:\n  x:\n    max_steps: 2.5\n", "max_steps=2.5 is not allowed: expected a whole number"),
    ("experiments:\n  x:\n    max_steps: 0\n", "max_steps=0 is not allowed"),
    ("experiments:\n  x:\n    policy: 5\n", "policy=5 is not allowed: expected a name"),
    ("experiments:\n  x:\n    use_vac: maybe\n", "use_vac='maybe' is not allowed: expected true or false"),
    ("experiments: [1, 2]\n", "experiments must be a mapping"),
])
def test_bad_experiments_files_give_one_line(tmp_path, text, message):
    path = tmp_path / "e.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_experiments(path)
    assert "\n" not in str(info.value) and "attrs" not in str(info.value)


def test_non_utf8_and_directory_configs_are_refused(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("defaults:\n  description: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_experiments(bad)
    with pytest.raises(ConfigError, match="is not a file"):
        load_experiments(tmp_path)


def test_url_credentials_never_reach_a_trajectory(tmp_path):
    worker = ScriptedBackend(["send_msg_to_user('the server is http://admin:hunter22@10.0.0.1:8000/v1')"])
    run_episode(shop_task(), mode_config("baseline_worker", env={}), shop_env(), make_runtime(), data_dir=tmp_path,
                backends={"worker": worker})
    text = next(tmp_path.rglob("*.jsonl")).read_text()
    assert "hunter22" not in text and "http://***@10.0.0.1:8000/v1" in text
