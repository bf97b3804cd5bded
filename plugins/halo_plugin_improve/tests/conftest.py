"""Two real little runs of the same tasks through HALO's loop: a good one and a bad one.

Both run ``graph.shop-price`` ("What is the price of the blender?", the answer is 42 on
the price page) and ``graph.shop-buy`` over a GraphEnvironment with scripted workers.
The good worker opens the price list and answers "It costs 42 dollars"; the bad one
clicks a missing element twice, never opens the price list and answers "It costs 41".
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from halo_core import mode_config, run_episode
from halo_core.model import TaskSpec
from halo_core.testing import GraphEnvironment, Page, ScriptedBackend, make_runtime


def pages() -> dict[str, Page]:
    return {
        "home": Page("Shop", [("link", "Products", "products")]),
        "products": Page("Products", [("button", "Go to checkout", "checkout"), ("link", "Price list", "price")]),
        "checkout": Page("Checkout", [("button", "Place order", "done")], heading="Checkout"),
        "done": Page("Thanks", [("link", "Home", "home")], heading="Order confirmed"),
        "price": Page("Prices", [("link", "Home", "home")], heading="Blender costs 42 dollars"),
    }


def tasks() -> list[TaskSpec]:
    return [TaskSpec(id="graph.shop-price", goal="What is the price of the blender?", suite="graph", site="graph",
                     challenge_type="retrieval"),
            TaskSpec(id="graph.shop-buy", goal="Buy the blender", suite="graph", site="graph")]


def worker(good: bool):
    state = {"bad": 0 if good else 2}

    def reply(messages) -> str:
        text = next((m.content for m in reversed(messages) if "URL: " in m.content), "")
        page = next((ln[5:] for ln in text.splitlines() if ln.startswith("URL: ")), "").rsplit("/", 1)[-1]
        goal = next((ln[6:] for ln in text.splitlines() if ln.startswith("Goal: ")), "").lower()
        if "price" in goal:
            if page == "products" and state["bad"] > 0:
                state["bad"] -= 1
                return "click('99')"
            if good:
                return {"home": "click('1')", "products": "click('2')"}.get(page, "send_msg_to_user('It costs 42 dollars')")
            return {"home": "click('1')"}.get(page, "send_msg_to_user('It costs 41')")
        return {"home": "click('1')", "products": "click('1')", "checkout": "click('1')"}.get(
            page, "send_msg_to_user('Order placed')")
    return reply


def make_run(root: Path, run_id: str, *, good: bool) -> Path:
    from halo_core.evaluation.jobs import EpisodeJob, episode_record
    from halo_core.evaluation.plan import new_plan
    from halo_core.evaluation.store import ResultsStore

    data_dir = root / "data"
    config = mode_config("baseline_worker", env={}, max_steps=8)
    store = ResultsStore(root / "results", run_id)
    store.write_plan(new_plan("eval", run_id, [{"id": t.id, "suite": "graph"} for t in tasks()],
                              {"baseline_worker": config}, {"attempts": 1, "data_dir": str(data_dir)}))
    runtime = make_runtime()
    for task in tasks():
        env = (GraphEnvironment(pages(), answer="42") if task.id == "graph.shop-price"
               else GraphEnvironment(pages(), goal_page="done"))
        result = run_episode(task, config, env, runtime, run_id=run_id, attempt=0, data_dir=data_dir,
                             backends={"worker": ScriptedBackend(worker(good), name="scripted:worker-small")})
        job = EpisodeJob(task=task, suite="graph", config=config, run_id=run_id, attempt=0, data_dir=str(data_dir))
        store.append_episode(episode_record(job, result))
    store.close()
    return store.dir


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.delenv("HALO_TRACES", raising=False)
    monkeypatch.delenv("HALO_TRACES_FILE", raising=False)
    return {"good": make_run(tmp_path / "good", "run_good", good=True),
            "bad": make_run(tmp_path / "bad", "run_bad", good=False)}


@pytest.fixture
def price_feedback() -> dict:
    """A reviewer's feedback on the bad run's price episode."""
    return dict(task="graph.shop-price", attempt=0, mode="baseline_worker",
                text="Answered 41 without reading the price list",
                required=['answer "42"', 'visit "price"', "within 6 steps"],
                prohibited=["action noop", 'answer contains "41"', "guess the price"])


@pytest.fixture
def judge_reply():
    """A judging "model" for the loopback server: a verdict on the price episode, a reply
    without JSON (then a valid one when asked again) on the buy episode."""
    from halo_core.loopback import last_user_text

    def reply(body: dict) -> str:
        text = last_user_text(body)
        if "That reply is not valid" in text:
            return "```json\n" + json.dumps({"verdict": "pass", "summary": "Bought it.", "observations": [],
                                             "failure_modes": [], "required": ["succeed"], "prohibited": []}) + "\n```"
        if "shop-buy" in text:
            return "I think it went fine."
        return json.dumps({"verdict": "fail", "summary": "Answered 41 without reading the price list.",
                           "observations": ["a step wasted on a missing element"],
                           "failure_modes": ["guessing: answered without evidence"],
                           "required": ['answer contains "42"', 'visit "price"'],
                           "prohibited": ['answer contains "41"', "click('99')"]})
    return reply


class ResponsesLoopback:
    """An OpenAI Responses API server on loopback (``POST /v1/responses``), as halo-engine's
    agents (openai-agents) call it: a JSON reply, or server-sent events (``response.created``,
    ``response.output_item.added/done``, ``response.completed``) when ``stream`` is true.
    ``answer(body)`` returns the response's output items (messages, function calls)."""

    def __init__(self, answer) -> None:
        self.answer, self.requests, self.errors = answer, [], []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, data: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                server.requests.append({"path": self.path, "body": body})
                if self.path.rstrip("/") != "/v1/responses":
                    return self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())
                try:
                    output = server.answer(body)
                except Exception as exc:  # a broken test reply: say so instead of dropping the connection
                    server.errors.append(repr(exc))
                    return self._send(400, json.dumps({"error": {"message": f"loopback reply failed: {exc!r}"}}).encode())
                usage = {"input_tokens": 100, "output_tokens": 50, "total_tokens": 150,
                         "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}
                resp = {"id": f"resp_{len(server.requests)}", "object": "response", "created_at": int(time.time()),
                        "status": "completed", "model": body.get("model", ""), "output": output,
                        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "error": None,
                        "incomplete_details": None, "instructions": None, "metadata": {}, "temperature": None,
                        "top_p": None, "usage": usage}
                if not body.get("stream"):
                    return self._send(200, json.dumps(resp).encode())
                events = [{"type": "response.created", "response": {**resp, "status": "in_progress", "output": []}}]
                for i, item in enumerate(output):
                    events.append({"type": "response.output_item.added", "output_index": i, "item": item})
                    events.append({"type": "response.output_item.done", "output_index": i, "item": item})
                events.append({"type": "response.completed", "response": resp})
                stream = "".join(f"event: {e['type']}\ndata: {json.dumps({**e, 'sequence_number': k})}\n\n"
                                 for k, e in enumerate(events))
                self._send(200, stream.encode(), "text/event-stream")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "ResponsesLoopback":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def responses_server():
    return ResponsesLoopback
