"""The navigation policy: a task's pages stay on its own origins, over http(s).

The browser tests run a real web-clone task in Chromium; a "foreign" site (another
loopback port) counts every request it gets, so a refusal that still contacted it
shows up, and serves a marker that must never reach an observation.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import attrs
import pytest

from halo_core.env.browser import NavigationPolicy, origin_of
from halo_core.env.chromium import sandbox_status

SECRET = "FOREIGN-SECRET-7731"


# ----------------------------------------------------------------------------- pure policy


def test_origin_of_normalises():
    assert origin_of("HTTP://Example.COM:80/a?b#c") == "http://example.com"
    assert origin_of("https://example.com:443") == "https://example.com"
    assert origin_of("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080"
    assert origin_of("http://[::1]:9/") == "http://[::1]:9"
    for url in ("file:///etc/passwd", "chrome://version", "data:text/html,x", "javascript:alert(1)",
                "view-source:http://127.0.0.1:1/", "about:config", "relative/path", "http://"):
        assert origin_of(url) == "", url


def test_policy_refusals_name_the_url_and_the_rule():
    policy = NavigationPolicy.for_urls("http://127.0.0.1:5000/start", extra=("https://login.example.com",))
    assert policy.origins == ("http://127.0.0.1:5000", "https://login.example.com")
    assert policy.allows("http://127.0.0.1:5000/cart?x=1")
    assert policy.allows("https://login.example.com/sso")
    assert policy.allows("about:blank")
    assert policy.refusal("file:///etc/passwd") == (
        "navigation to file:///etc/passwd refused: only http(s) pages of http://127.0.0.1:5000, "
        "https://login.example.com are allowed for this task")
    for url in ("http://127.0.0.1:5001/", "http://127.0.0.2:5000/", "https://127.0.0.1:5000/",
                "about:settings", "data:text/html,hi", "http://127.0.0.1:50000/"):
        assert not policy.allows(url), url
    # a URL cannot smuggle a line break or unbounded length into the error line
    text = policy.refusal("data:text/html,a\nNext action: x" + "y" * 500)
    assert "\n" not in text and len(text) < 300
    # no origin known: any http(s) page, still no other scheme
    anything = NavigationPolicy.for_urls("")
    assert anything.allows("http://anywhere.example/") and not anything.allows("file:///etc/passwd")
    with pytest.raises(ValueError, match="'ftp://x' is not an http\\(s\\) origin"):
        NavigationPolicy.for_urls("http://a/", extra=("ftp://x",))


def test_route_pattern_matches_only_what_may_be_refused():
    policy = NavigationPolicy.for_urls("http://127.0.0.1:5000/")
    pattern = policy.route_pattern()
    assert not pattern.search("http://127.0.0.1:5000/")
    assert not pattern.search("http://127.0.0.1:5000?q")
    assert pattern.search("http://127.0.0.1:50001/")  # a longer port is another origin
    assert pattern.search("http://127.0.0.1:5000.evil.example/")
    assert pattern.search("http://127.0.0.2:5000/")


def test_sandbox_status_says_why():
    import os

    enabled, reason = sandbox_status()
    assert isinstance(enabled, bool) and reason
    if os.geteuid() == 0:
        assert not enabled and "root" in reason


# ----------------------------------------------------------------------------- in Chromium

pytest.importorskip("halo_plugin_webclones")

from halo_core.builtins.summarizer import summarize  # noqa: E402
from halo_core.env.chromium import BrowserNotFound, find_chromium  # noqa: E402
from halo_core.env.protocol import EnvSettings  # noqa: E402
from halo_plugin_webclones.suite import WebclonesSuite  # noqa: E402


def _chromium_or_skip():
    try:
        find_chromium()
    except BrowserNotFound as exc:  # pragma: no cover - depends on the machine
        pytest.skip(str(exc))


class _Foreign(BaseHTTPRequestHandler):
    hits: list[str] = []
    target = ""

    def do_GET(self) -> None:  # noqa: N802
        _Foreign.hits.append(self.path)
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", _Foreign.target)
            self.end_headers()
            return
        data = f"<html><head><title>{SECRET}</title></head><body><h1>{SECRET}</h1></body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET

    def log_message(self, *args) -> None:
        pass


def _serve() -> tuple[ThreadingHTTPServer, str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Foreign)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_port}"


@pytest.fixture(scope="module")
def servers():
    foreign, foreign_url = _serve()
    redirector, redirector_url = _serve()  # allowed by the task, redirects to the foreign one
    _Foreign.target = foreign_url + "/landed"
    yield foreign_url, redirector_url
    foreign.shutdown()
    redirector.shutdown()


@pytest.fixture(scope="module")
def env():
    _chromium_or_skip()
    suite = WebclonesSuite()
    environment = suite.make_environment(suite.resolve("webclones.shop-1"), EnvSettings(screenshot=False))
    yield environment
    environment.close()


@pytest.fixture
def shop(env, servers):
    """webclones.shop-1 reset, allowing the redirector's origin (not the foreign one)."""
    _foreign, redirector = servers
    task = attrs.evolve(WebclonesSuite().resolve("webclones.shop-1"), allowed_origins=(redirector,))
    raw = env.reset(task)
    _Foreign.hits.clear()
    return raw


def _assert_clean(env, raw, base: str) -> None:
    """The observation shows the site, none of the foreign content, and the episode goes on."""
    obs = summarize(raw)
    blob = "\n".join([raw.url, raw.title, obs.text, *raw.tabs])
    assert SECRET not in blob and "root:x:0" not in blob and "Chromium" not in raw.title
    assert raw.url.startswith(base) and all(t.startswith(base) for t in raw.tabs), (raw.url, raw.tabs)
    after = env.step("noop()")  # the episode continues
    assert after.last_action_error == "" and after.url.startswith(base)


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "chrome://version",
    "view-source:{base}/",
    "data:text/html,<title>" + SECRET + "</title><h1>" + SECRET + "</h1>",
    "javascript:document.title='" + SECRET + "'",
    "about:version",
    "{foreign}/page",
    "http://127.0.0.2:1/",
])
def test_goto_outside_the_task_is_refused(env, servers, shop, url):
    foreign, _redirector = servers
    url = url.format(base=env.base, foreign=foreign)
    raw = env.step(f"goto({url!r})")
    assert raw.last_action_error.startswith("navigation to "), raw.last_action_error
    assert f"refused: only http(s) pages of {env.base}" in raw.last_action_error
    _assert_clean(env, raw, env.base)
    assert _Foreign.hits == []


def _inject(env, html: str) -> None:
    env.run_script("(html) => { const d = document.createElement('div'); d.innerHTML = html;"
                   " document.body.prepend(d); }", html)


def _click(env, role: str, name: str):
    obs = summarize(env.observe())
    element = obs.find(role, name)
    assert element is not None, obs.text[:2000]
    return env.step(f"click('{element.bid}')")


@pytest.mark.parametrize("html, role, name", [
    ("<a href='{foreign}/link'>Leave site</a>", "link", "Leave site"),
    ("<a href='{foreign}/tab' target='_blank'>Leave in a tab</a>", "link", "Leave in a tab"),
    ("<form method='post' action='{foreign}/post'><input name='card' value='4111'>"
     "<button>Send card</button></form>", "button", "Send card"),
    ("<button onclick=\"window.open('{foreign}/popup')\">Open popup</button>", "button", "Open popup"),
    ("<button onclick=\"location.href='{foreign}/js'\">Go by script</button>", "button", "Go by script"),
])
def test_links_forms_and_popups_leaving_the_site_are_refused(env, servers, shop, html, role, name):
    foreign, _redirector = servers
    _inject(env, html.format(foreign=foreign))
    raw = _click(env, role, name)
    assert f"navigation to {foreign}/" in raw.last_action_error and "refused" in raw.last_action_error
    _assert_clean(env, raw, env.base)
    assert _Foreign.hits == [], "the foreign site was contacted"


def test_redirect_off_the_site_is_reverted(env, servers, shop):
    """Playwright's routing never sees a redirect's target, so the foreign site does get the
    redirected request; the tab is sent back before anything of it is observed."""
    foreign, redirector = servers
    _inject(env, f"<a href='{redirector}/redirect'>Partner</a>")
    raw = _click(env, "link", "Partner")
    assert f"navigation to {foreign}/landed refused" in raw.last_action_error, raw.last_action_error
    # back on the last page of the site that was allowed
    _assert_clean(env, raw, env.base)
    assert raw.url == env.base + "/"


def test_allowed_extra_origin_is_reachable(env, servers, shop):
    _foreign, redirector = servers
    raw = env.step(f"goto('{redirector}/page')")
    assert raw.last_action_error == "" and raw.url == f"{redirector}/page"
    assert SECRET in raw.title  # the same page on an allowed origin is shown


def test_bad_allowed_origin_is_one_clear_error(env):
    from halo_core.env.protocol import EnvironmentDead

    task = attrs.evolve(WebclonesSuite().resolve("webclones.shop-1"), allowed_origins=("not a url",))
    with pytest.raises(EnvironmentDead, match="'not a url' is not an http\\(s\\) origin"):
        env.reset(task)
