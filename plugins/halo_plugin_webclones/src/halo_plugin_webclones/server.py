"""HTTP server and REAL-protocol machinery shared by the three web clones.

Every call to :func:`start_site` builds a fresh site object (its own state) and
serves it with :class:`halo_core.local_server.LocalHTTPServer` (``127.0.0.1``, a free
port, a daemon thread), so parallel episodes never share state.

REAL protocol endpoints handled here for every site:

* ``GET /config?run_id=..&task_id=..`` - reset the state to the task's seed
  state (the task JSON's ``config`` may tweak the seed) and remember the ids.
* ``GET /finish`` - ``<pre>{json}</pre>`` with ``initialfinaldiff``,
  ``differences`` and the full final ``state``.
"""

from __future__ import annotations

import copy
import html
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from halo_core.api import LocalHTTPServer

SITES = ("shop", "mail", "calendar")
DEFAULT_TODAY = "2024-07-15"

Form = dict[str, list[str]]


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


class Response:
    def __init__(self, body: str = "", status: int = 200, headers: dict[str, str] | None = None):
        self.body = body
        self.status = status
        self.headers = headers or {}


def redirect(location: str) -> Response:
    return Response("", 303, {"Location": location})


def first(form: Form, key: str, default: str = "") -> str:
    values = form.get(key)
    return values[0] if values else default


# --------------------------------------------------------------------------- diff


def compute_diff(before: Any, after: Any) -> tuple[dict, dict, dict]:
    """Recursive dict diff -> (added, updated, deleted), nested like the state.

    Added/deleted keys carry the whole value; keys present on both sides whose
    values are dicts are recursed into, other changed values are reported under
    ``updated`` with their new value.
    """
    added: dict = {}
    updated: dict = {}
    deleted: dict = {}
    for key, new in after.items():
        if key not in before:
            added[key] = copy.deepcopy(new)
            continue
        old = before[key]
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            a, u, d = compute_diff(old, new)
            if a:
                added[key] = a
            if u:
                updated[key] = u
            if d:
                deleted[key] = d
        else:
            updated[key] = copy.deepcopy(new)
    for key, old in before.items():
        if key not in after:
            deleted[key] = copy.deepcopy(old)
    return added, updated, deleted


def finish_payload(initial: dict, final: dict) -> dict:
    added, updated, deleted = compute_diff(initial, final)
    differences: dict = {}
    for group, collections in final.items():
        init_group = initial.get(group, {})
        for coll, records in collections.items():
            a, u, d = compute_diff(init_group.get(coll, {}), records)
            differences[coll] = {"added": a, "updated": u, "deleted": d}
    return {
        "initialfinaldiff": {"added": added, "updated": updated, "deleted": deleted},
        "differences": differences,
        "state": copy.deepcopy(final),
    }


# --------------------------------------------------------------------------- site base

CSS = """
*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;padding:.6rem 1rem;background:#23395d;color:#fff}
header a{color:#fff}header .brand{font-weight:700;font-size:1.2rem;text-decoration:none}
header nav ul,.side ul{list-style:none;margin:0;padding:0;display:flex;gap:.8rem;flex-wrap:wrap}
main{padding:1rem 1.5rem;max-width:1100px}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
.grid{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:.8rem}
.card{background:#fff;border:1px solid #ddd;padding:.6rem;border-radius:6px}
label{display:block;margin-top:.5rem;font-weight:600}input,select,textarea{font:inherit;padding:.3rem;min-width:16rem}
textarea{min-height:8rem;width:100%}button{font:inherit;padding:.3rem .8rem;margin-top:.5rem;cursor:pointer}
fieldset{margin:.8rem 0;background:#fff}.inline label{display:inline;font-weight:400}.inline input{min-width:0}
[role=alert]{background:#fde8e8;border:1px solid #c00;padding:.5rem 1rem;margin:.5rem 0}
[role=status]{background:#e6f4ea;border:1px solid #2a7;padding:.5rem 1rem;margin:.5rem 0}
.err{color:#b00;margin:.2rem 0}.muted{color:#666}.unread{font-weight:700}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.toolbar{display:flex;gap:.6rem;align-items:center;flex-wrap:wrap}.toolbar form{display:inline}
dialog{border:1px solid #888;border-radius:8px;max-width:30rem}dialog::backdrop{background:rgba(0,0,0,.4)}
.layout{display:flex;gap:1.5rem}.side{min-width:10rem}.side ul{flex-direction:column}
.cal td{height:5.5rem;width:14%}.cal ul{list-style:none;padding:0;margin:0;font-size:.85rem}
.body{white-space:pre-wrap;background:#fff;border:1px solid #ddd;padding:.8rem}
"""


def modal(dialog_id: str, open_label: str, title: str, text: str, confirm_form: str, cancel_label: str = "Cancel") -> str:
    """A button that opens a modal <dialog> containing ``confirm_form`` (HTML)."""
    return (
        f'<button type="button" onclick="document.getElementById(\'{dialog_id}\').showModal()">{esc(open_label)}</button>'
        f'<dialog id="{dialog_id}" aria-labelledby="{dialog_id}-title">'
        f'<h2 id="{dialog_id}-title">{esc(title)}</h2><p>{esc(text)}</p>{confirm_form}'
        f'<button type="button" onclick="this.closest(\'dialog\').close()">{esc(cancel_label)}</button>'
        "</dialog>"
    )


def errors_block(errors: list[str]) -> str:
    if not errors:
        return ""
    items = "".join(f"<li>{esc(e)}</li>" for e in errors)
    return f'<div role="alert"><h2>Please fix the following errors</h2><ul>{items}</ul></div>'


def field(label: str, name: str, value: str = "", *, input_type: str = "text", error: str = "", field_id: str | None = None,
          extra: str = "") -> str:
    fid = field_id or f"f-{name}"
    err_id = f"{fid}-err"
    aria = f' aria-invalid="true" aria-describedby="{err_id}"' if error else ""
    err_html = f'<p class="err" id="{err_id}">{esc(error)}</p>' if error else ""
    if input_type == "textarea":
        ctrl = f'<textarea id="{fid}" name="{name}"{aria}{extra}>{esc(value)}</textarea>'
    else:
        ctrl = f'<input type="{input_type}" id="{fid}" name="{name}" value="{esc(value)}"{aria}{extra}>'
    return f'<label for="{fid}">{esc(label)}</label>{ctrl}{err_html}'


Handler = Callable[..., Response]


class BaseSite:
    """State holder + router.  Subclasses define ``seed_state`` and ``routes``."""

    name = "site"
    brand = "Site"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.run_id: str | None = None
        self.task_id: str | None = None
        self.flash: str | None = None
        self.reset({})
        self._routes: list[tuple[str, re.Pattern, Handler]] = [
            (m, re.compile("^" + p + "$"), h) for m, p, h in self.routes()
        ]

    # -- to override ------------------------------------------------------
    def seed_state(self, config: dict) -> dict:
        raise NotImplementedError

    def routes(self) -> list[tuple[str, str, Handler]]:
        raise NotImplementedError

    def nav_html(self) -> str:
        return ""

    # -- state ------------------------------------------------------------
    def reset(self, config: dict) -> None:
        self.config = dict(config or {})
        self.today = str(self.config.get("today") or DEFAULT_TODAY)
        self.state = self.seed_state(self.config)
        self.initial = copy.deepcopy(self.state)
        self.flash = None

    def take_flash(self) -> str:
        msg, self.flash = self.flash, None
        return f'<p role="status">{esc(msg)}</p>' if msg else ""

    # -- rendering --------------------------------------------------------
    def page(self, title: str, body: str, status: int = 200) -> Response:
        doc = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(title)} - {esc(self.brand)}</title><style>{CSS}</style></head><body>"
            f'<header><a class="brand" href="/">{esc(self.brand)}</a>{self.nav_html()}</header>'
            f'<main id="main">{self.take_flash()}{body}</main></body></html>'
        )
        return Response(doc, status)

    def not_found(self, what: str = "Page") -> Response:
        return self.page("Not found", f"<h1>{esc(what)} not found</h1><p><a href=\"/\">Go to the home page</a></p>", 404)

    # -- protocol ---------------------------------------------------------
    def do_config(self, query: Form) -> Response:
        from .tasks import find_task  # local import: tasks imports nothing from here

        task_id = first(query, "task_id") or None
        config: dict = {}
        if task_id:
            task = find_task(task_id)
            if task and task.get("website", {}).get("id") == self.name:
                config = dict(task.get("config") or {})
        self.reset(config)
        self.run_id = first(query, "run_id") or None
        self.task_id = task_id
        body = (
            f"<h1>{esc(self.brand)} configured</h1>"
            f"<p>Run: {esc(self.run_id or '-')}. Task: {esc(self.task_id or '-')}.</p>"
            '<p><a href="/">Start</a></p>'
        )
        return self.page("Configured", body)

    def finish_json(self) -> dict:
        payload = finish_payload(self.initial, self.state)
        payload["run_id"] = self.run_id
        payload["task_id"] = self.task_id
        return payload

    def do_finish(self) -> Response:
        text = json.dumps(self.finish_json(), indent=2, sort_keys=True)
        doc = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Finish</title></head>'
            f"<body><pre>{html.escape(text, quote=False)}</pre></body></html>"
        )
        return Response(doc)

    def handle(self, method: str, raw_path: str, form: Form) -> Response:
        parsed = urllib.parse.urlsplit(raw_path)
        path = urllib.parse.unquote(parsed.path) or "/"
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        with self.lock:
            if method == "GET" and path == "/config":
                return self.do_config(query)
            if method == "GET" and path == "/finish":
                return self.do_finish()
            if path == "/favicon.ico":
                return Response("", 204)
            params = query if method == "GET" else form
            for m, pattern, handler in self._routes:
                if m != method:
                    continue
                match = pattern.match(path)
                if match:
                    return handler(params, *match.groups())
            return self.not_found()


# --------------------------------------------------------------------------- server


def _make_handler(site: BaseSite) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # avoid Nagle/delayed-ACK stalls on localhost

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            pass

        def _send(self, resp: Response) -> None:
            data = resp.body.encode("utf-8")
            self.send_response(resp.status)
            if resp.status != 204:
                self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            for k, v in resp.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _run(self, method: str, form: Form) -> None:
            try:
                resp = site.handle(method, self.path, form)
            except Exception as exc:  # pragma: no cover - defensive
                resp = Response(f"<h1>Server error</h1><pre>{esc(exc)}</pre>", 500)
            self._send(resp)

        def do_GET(self) -> None:  # noqa: N802
            self._run("GET", {})

        def do_HEAD(self) -> None:  # noqa: N802
            self._run("GET", {})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            form = urllib.parse.parse_qs(raw, keep_blank_values=True)
            self._run("POST", form)

    return _Handler


class SiteServer(LocalHTTPServer):
    """A running clone.  ``url`` is ``http://127.0.0.1:PORT``; use as a context manager."""

    def __init__(self, site: str):
        if site not in SITES:
            raise ValueError(f"unknown site {site!r}; expected one of {SITES}")
        from .sites import make_site

        self.site_name = site
        self.site = make_site(site)
        super().__init__(_make_handler(self.site), name=f"webclone-{site}")

    def __repr__(self) -> str:
        return f"SiteServer({self.site_name!r}, url={self.url!r})"


def start_site(site: str) -> SiteServer:
    """Start a fresh, isolated server for ``site`` (one of :data:`SITES`)."""
    return SiteServer(site)
