"""The HTTPS launcher: GET /v1/launch?p=..&t=..&c=.. sends the browser into vscode://.

Protocol: "HTTPS launcher for vscode:// fallback". The page carries the one-time code (never a
permit), reflects what it is given only escaped, and needs p, t and c. How the page redirects
(meta refresh, link, script, a 3xx) is the target's choice.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from seecodes_conformance.flows import LAUNCHER_PATH, ProtocolSteps, launcher_redirects
from seecodes_conformance.http import is_throttled
from seecodes_conformance.oracle import assert_rejected, checked, controlled, fail, throttled
from seecodes_conformance.redaction import REGISTRY

# Hostile values, and the fragments that would run if any of them came back unescaped.
HOSTILE: dict[str, tuple[str, tuple[str, ...]]] = {
    "script-tag": ("<script>alert(1)</script>", ("<script>alert(1)",)),
    "attribute-breakout": (
        "\"'><img src=x onerror=alert(1)>",
        ("<img src=x onerror=alert(1)>",),
    ),
}
REFLECTED = ("p", "t", "c", "baseUrl", "statusLanguage")


def _assert_served(response: httpx.Response, invariant: str, what: str) -> None:
    """The launcher served ``what``: a page (2xx) or a redirect (3xx), its choice."""
    if is_throttled(response.status_code, response.headers):
        throttled(response, invariant, what)
    if not (response.is_success or 300 <= response.status_code < 400):
        fail(invariant, f"the launcher answered {response.status_code} to {what}", [response])


@pytest.mark.invariant("LAUNCHER-PAGE")
def test_launcher_page_opens_vscode_with_the_code_and_no_permit(
    protocol: ProtocolSteps, http: httpx.Client
) -> None:
    """The page is HTML that redirects into vscode:// carrying the code; no permit, no `k`."""
    task = protocol.new_task()
    permit = protocol.mint_permit(task)
    link = protocol.mint_launch_code(task)

    response = http.get(
        LAUNCHER_PATH, params={"p": task.project_id, "t": task.task_id, "c": link.code}
    )

    _assert_served(response, "LAUNCHER-PAGE", "p, t and c of a fresh launch link")
    if response.is_success and "text/html" not in response.headers.get("content-type", ""):
        fail("LAUNCHER-PAGE", "the launcher page is not text/html", [response])
    text, urls = launcher_redirects(response)
    if not urls:
        fail("LAUNCHER-PAGE", "the launcher page has no vscode:// URL", [response])
    if not any(link.code in unquote(url) for url in urls) and link.code not in unquote(text):
        fail("LAUNCHER-PAGE", "the vscode:// redirect does not carry the launch code", [response])
    everything = response.text + "\n" + response.headers.get("location", "")
    permits = [
        m
        for m in REGISTRY.found_in(everything) + REGISTRY.found_in(unquote(text))
        if m.startswith("[permit#")
    ]
    if permit.permit in unquote(everything) or permits:
        fail("LAUNCHER-PAGE", "the launcher page carries a task permit", [response])
    for url in urls:
        if "k" in parse_qs(urlsplit(url).query):
            fail("LAUNCHER-PAGE", "the vscode:// URL has the retired `k` parameter", [response])
    checked("LAUNCHER-PAGE")


@pytest.mark.invariant("LAUNCHER-PAGE")
def test_launcher_preserves_the_hints_into_vscode(
    protocol: ProtocolSteps, http: httpx.Client
) -> None:
    """Protocol: the page "redirects into the vscode:// protocol while preserving optional
    backend-route and language hints" (baseUrl, statusLanguage "preserved through the
    launcher"). So the vscode:// URI the browser is sent to carries both values; under which
    parameter names is the target's choice. Shown on the page alone, they never reach the IDE.
    The hints are this target's own URL and a plain language tag, values a launcher has no
    reason to refuse."""
    task = protocol.new_task()
    link = protocol.mint_launch_code(task)
    hints = {"baseUrl": str(http.base_url).rstrip("/"), "statusLanguage": "de"}

    response = http.get(
        LAUNCHER_PATH,
        params={"p": task.project_id, "t": task.task_id, "c": link.code, **hints},
    )

    _assert_served(response, "LAUNCHER-PAGE", "a launch link with baseUrl and statusLanguage")
    _, urls = launcher_redirects(response)
    if not urls:
        fail("LAUNCHER-PAGE", "the launcher page has no vscode:// URL", [response])
    for name, value in hints.items():
        carried = [
            url
            for url in urls
            if value in (v for values in parse_qs(urlsplit(url).query).values() for v in values)
        ]
        if not carried:
            fail(
                "LAUNCHER-PAGE",
                f"the vscode:// URI the launcher opens does not carry the {name} hint {value!r}",
                [response],
            )
    checked("LAUNCHER-PAGE")


@pytest.mark.invariant("LAUNCHER-ESCAPE")
@pytest.mark.parametrize("payload", list(HOSTILE))
def test_launcher_escapes_every_reflected_value(
    protocol: ProtocolSteps, http: httpx.Client, payload: str
) -> None:
    """A hostile p, t, c, baseUrl or statusLanguage never comes back as live markup; refusing
    it with a 4xx is as good as escaping it. The same link without the hostile value is served
    (so refusing is about the value, not the launcher refusing everything)."""
    task = protocol.new_task()
    link = protocol.mint_launch_code(task)
    value, fragments = HOSTILE[payload]
    base = {"p": task.project_id, "t": task.task_id, "c": link.code}
    _assert_served(http.get(LAUNCHER_PATH, params=base), "LAUNCHER-ESCAPE", "the benign link")
    controlled("LAUNCHER-ESCAPE")

    for name in REFLECTED:
        response = http.get(LAUNCHER_PATH, params={**base, name: value})

        if is_throttled(response.status_code, response.headers):
            throttled(response, "LAUNCHER-ESCAPE", f"a launcher request with a hostile {name}")
        if response.status_code >= 500:
            fail("LAUNCHER-ESCAPE", f"a hostile {name} crashed the launcher", [response])
        is_html = "html" in response.headers.get("content-type", "")
        if response.is_client_error and not is_html:
            # Refused, and nothing a browser would render.
            assert_rejected(response, "LAUNCHER-ESCAPE", what=f"a hostile {name}")
            continue
        live = [f for f in (value, *fragments) if f in response.text]
        if live:
            fail(
                "LAUNCHER-ESCAPE",
                f"the launcher reflects {name} unescaped: {live[-1]!r} is live markup",
                [response],
            )
    checked("LAUNCHER-ESCAPE")


@pytest.mark.invariant("LAUNCHER-PARAMS")
@pytest.mark.parametrize("missing", ["p", "t", "c"])
def test_launcher_rejects_a_missing_parameter(
    protocol: ProtocolSteps, http: httpx.Client, missing: str
) -> None:
    """p, t and c are required: without any one of them the launcher answers a 4xx, where the
    same link with all three is served."""
    task = protocol.new_task()
    link = protocol.mint_launch_code(task)
    full = {"p": task.project_id, "t": task.task_id, "c": link.code}
    partial = {name: value for name, value in full.items() if name != missing}

    response = http.get(LAUNCHER_PATH, params=partial)
    complete = http.get(LAUNCHER_PATH, params=full)

    assert_rejected(response, "LAUNCHER-PARAMS", what=f"a launcher request without {missing}")
    _assert_served(complete, "LAUNCHER-PARAMS", "the same link with p, t and c")
    controlled("LAUNCHER-PARAMS")
