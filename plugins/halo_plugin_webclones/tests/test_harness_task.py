"""The web-clone task class for agisdk's harness: what it evaluates, and with which answer."""

import pytest

pytest.importorskip("agisdk")

from halo_plugin_webclones.harness import (  # noqa: E402
    WebcloneHarnessTask,
    _agent_report,
    register_harness_tasks,
)
from halo_plugin_webclones.server import start_site  # noqa: E402

GREETING = {"role": "assistant", "message": "Hi! I am your UI assistant, I can perform web tasks for you."}


def test_only_the_agents_own_report_ends_the_task():
    goal = {"role": "user", "message": "Who sent me the email about the Q3 budget?"}
    assert _agent_report([GREETING, goal]) is None
    assert _agent_report([GREETING, goal, {"role": "assistant", "message": "Daniel Kim"}]) == ("Daniel Kim", False)
    assert _agent_report([GREETING, goal, {"role": "infeasible", "message": "No such product."}]) == (
        "No such product.", True)
    # agisdk reports a failed action execution in the same role; that is not the agent's report
    assert _agent_report([GREETING, goal, {"role": "infeasible", "message": "Execution failed: TimeoutError"}]) is None


@pytest.fixture()
def mail_task():
    with start_site("mail") as server:
        task = WebcloneHarnessTask(seed=0, task_name="mail-2", base_url=server.url + "/")
        yield task, server


def _validate_on_untouched_site(task, server, chat):
    """validate() as agisdk's env calls it, with the finish JSON read straight from the clone."""
    import json
    import urllib.request

    urllib.request.urlopen(server.url + "/config?run_id=0&task_id=v2.mail-2").read()

    def finish_json(timeout=1000):
        text = urllib.request.urlopen(server.url + "/finish").read().decode()
        import html
        return json.loads(html.unescape(text.split("<pre>", 1)[1].split("</pre>", 1)[0]))

    task.get_finish_json = finish_json
    return task.validate(None, chat)


def test_the_answer_reaches_the_script_and_agisdks_summary(mail_task):
    task, server = mail_task
    assert task.url == server.url and task.canonical_task_id == "v2.mail-2"
    chat = [GREETING, {"role": "assistant", "message": "It was Daniel Kim."}]
    reward, done, _msg, info = _validate_on_untouched_site(task, server, chat)
    assert (reward, done) == (1.0, True)
    assert info["criteria"][0]["model_response"] == "It was Daniel Kim." and info["criteria"][0]["success"]
    assert "model_response" not in info["env_state"]  # the site's state as the site reported it
    wrong = [GREETING, {"role": "assistant", "message": "It was Helen Park."}]
    assert _validate_on_untouched_site(task, server, wrong)[:2] == (0.0, True)
    infeasible = [GREETING, {"role": "infeasible", "message": "Daniel Kim"}]
    assert _validate_on_untouched_site(task, server, infeasible)[:2] == (0.0, True)  # a feasible task


def test_registration_refuses_unknown_sites_and_tasks():
    with pytest.raises(ValueError, match="unknown site"):
        register_harness_tasks({"bank": "http://127.0.0.1:1"})
    with pytest.raises(ValueError, match="'shop-1' is not a web-clone task of the sites given"):
        register_harness_tasks({"mail": "http://127.0.0.1:1"}, ["shop-1"])
    assert register_harness_tasks({"mail": "http://127.0.0.1:1"}, ["mail-2"]) == ["v2.mail-2"]
