"""Launch codes: the one-time code that carries a Jira task into the IDE.

Protocol: "One-time launch codes", POST /v1/security/vscode-link and
POST /v1/security/launch-exchange. The link carries only the code; the exchange turns an unused,
unexpired code into a permit for exactly the pair it was minted for, once.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from seecodes_conformance.deferred import Deferred, StateFile, utc
from seecodes_conformance.flows import LAUNCHER_PATH, LaunchLink, ProtocolSteps, launcher_redirects
from seecodes_conformance.flows.expiry import (
    claim_due,
    defer_expiry,
    engine_now,
    present_due,
    verified_note,
)
from seecodes_conformance.flows.probes import PendingRoutes
from seecodes_conformance.flows.run_registry import EarlyRuns, RunRegistry
from seecodes_conformance.http import PermitSession, is_throttled, json_or_none
from seecodes_conformance.ids import TaskRef, cyrillic_look_alike, fullwidth_letter
from seecodes_conformance.oracle import (
    assert_rejected,
    assert_success,
    checked,
    controlled,
    fail,
    throttled,
)
from seecodes_conformance.outcomes import LOG
from seecodes_conformance.progress import PROGRESS
from seecodes_conformance.race import BurstResponse, PreparedRequest, send_burst
from seecodes_conformance.race.verdict import RaceCampaign, assert_single_winner
from seecodes_conformance.redaction import REGISTRY
from seecodes_conformance.settings import Settings
from seecodes_conformance.target import Target

DAY = 86400.0
MAX_LINK_DAYS = 14  # "configurable from 1 to 14 days"
CLOCK_SKEW = 60.0  # seconds of slack between "minted" and the target's expiresAt
EXPIRY_MARGIN = 2.0  # seconds past expiresAt before an expired code is tried
EXCHANGE_ROUTE = "POST /v1/security/launch-exchange"


# -- reading the link ------------------------------------------------------------------------


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def _first(query: dict[str, list[str]], *names: str) -> str | None:
    for name in names:
        if query.get(name):
            return query[name][0]
    return None


def _https_binding(url: str) -> tuple[str | None, str | None, str | None]:
    """(p, t, c) of the HTTPS launcher URL."""
    query = _query(url)
    return _first(query, "p"), _first(query, "t"), _first(query, "c")


def _vscode_binding(url: str) -> tuple[str | None, str | None, str | None]:
    """(project, task, code) of the vscode:// URI: ``.../project/<P>/task/<T>?code=<C>`` as in
    the protocol example; any extension id, any URL encoding."""
    segments = [unquote(s) for s in urlsplit(url).path.split("/")]
    found: dict[str, str] = {}
    for name, value in itertools.pairwise(segments):
        if name in ("project", "task") and name not in found:
            found[name] = value
    query = _query(url)
    project = found.get("project") or _first(query, "project", "projectId", "p")
    task = found.get("task") or _first(query, "task", "taskId", "t")
    return project, task, _first(query, "code", "c")


def _url(link: LaunchLink, name: str) -> str:
    value = link.body.get(name)
    if not isinstance(value, str):
        fail("LC-MINT", f"vscode-link answered without a string {name}", [link.response])
    return value


def _permits_in(text: str) -> list[str]:
    """Markers of every permit this run has seen that occurs in ``text`` (raw or decoded)."""
    found = REGISTRY.found_in(text) + REGISTRY.found_in(unquote(text))
    return sorted({m for m in found if m.startswith("[permit#")})


# -- LC-MINT, LC-URL-BINDING, LC-NO-PERMIT-IN-LINK, LC-LIFETIME-MAX ---------------------------


@pytest.mark.invariant("LC-MINT")
def test_vscode_link_returns_code_urls_and_expiry(protocol: ProtocolSteps) -> None:
    """vscode-link answers launchCode, a vscode:// URI, an HTTPS launcher URL and expiresAt."""
    link = protocol.mint_launch_code(protocol.new_task())

    vscode_url, https_url = _url(link, "vscodeUrl"), _url(link, "httpsUrl")
    if urlsplit(vscode_url).scheme.lower() != "vscode":
        fail("LC-MINT", "vscodeUrl is not a vscode:// URI", [link.response])
    launcher = urlsplit(https_url)
    if launcher.scheme.lower() not in ("https", "http") or not launcher.path.endswith("/v1/launch"):
        fail("LC-MINT", "httpsUrl is not a launcher URL .../v1/launch?...", [link.response])
    expires_at = link.body.get("expiresAt")
    if not isinstance(expires_at, int | float) or isinstance(expires_at, bool):
        fail("LC-MINT", "expiresAt is not a number (epoch seconds)", [link.response])
    if expires_at <= ProtocolSteps.server_time(link.response) - CLOCK_SKEW:
        fail("LC-MINT", "a fresh launch code is already past its expiresAt", [link.response])
    checked("LC-MINT")


def _binding_errors(
    got: tuple[str | None, str | None, str | None],
    wanted: tuple[str, str, str],
    *,
    pair_required: bool,
) -> list[str]:
    """What of (project, task, code) ``got`` has wrong: the code must be there; the pair must
    be there only where the protocol requires it (``p`` and ``t`` of the launcher), and must be
    the requested one wherever it is shown."""
    wrong = []
    for label, value, expected in zip(("project", "task", "code"), got, wanted, strict=True):
        if value is None and label != "code" and not pair_required:
            continue  # a vscode:// URI that leaves the pair to the exchange: the target's choice
        if value != expected:
            wrong.append(label)
    return wrong


def _open_launcher(http: httpx.Client, link: LaunchLink, invariant: str) -> httpx.Response:
    """The target's launcher opened with the minted link's own query, as a browser would."""
    query = urlsplit(_url(link, "httpsUrl")).query
    response = http.get(f"{LAUNCHER_PATH}?{query}")
    what = "the target's launcher opened with the minted httpsUrl's query"
    if is_throttled(response.status_code, response.headers):
        throttled(response, invariant, what)
    if not (response.is_success or 300 <= response.status_code < 400):
        fail(invariant, f"{what} answered {response.status_code}", [link.response, response])
    return response


@pytest.mark.invariant("LC-URL-BINDING")
def test_both_urls_carry_the_requested_pair_and_the_code(
    protocol: ProtocolSteps, http: httpx.Client
) -> None:
    """Both URLs carry the minted code; the launcher URL names exactly the requested project and
    task (its p and t are required); the vscode:// URI may leave them out, but names no other.
    Opened, the launcher sends the browser into vscode:// with that same code and pair."""
    task = protocol.new_task()
    link = protocol.mint_launch_code(task)

    wanted = (task.project_id, task.task_id, link.code)
    for name, parse, pair_required in (
        ("httpsUrl", _https_binding, True),
        ("vscodeUrl", _vscode_binding, False),
    ):
        got = parse(_url(link, name))
        wrong = _binding_errors(got, wanted, pair_required=pair_required)
        if wrong:
            fail(
                "LC-URL-BINDING",
                f"{name} does not carry the requested {', '.join(wrong)} "
                f"(asked for {task.project_id}/{task.task_id}; got {got[0]!r}/{got[1]!r})",
                [link.response],
            )

    page = _open_launcher(http, link, "LC-URL-BINDING")
    text, redirects = launcher_redirects(page)
    for url in redirects:
        wrong = [
            label
            for label, value, expected in zip(
                ("project", "task", "code"), _vscode_binding(url), wanted, strict=True
            )
            if value is not None and value != expected
        ]
        if wrong:
            fail(
                "LC-URL-BINDING",
                "the launcher opened from the minted link sends the browser into a vscode:// URI"
                f" with another {', '.join(wrong)}",
                [link.response, page],
            )
    if link.code not in unquote(text):
        fail(
            "LC-URL-BINDING",
            "the launcher opened from the minted link does not carry the minted code",
            [link.response, page],
        )
    checked("LC-URL-BINDING")


@pytest.mark.invariant("LC-NO-PERMIT-IN-LINK")
def test_link_carries_only_the_launch_code(protocol: ProtocolSteps, http: httpx.Client) -> None:
    """No permit in the payload, the URLs or the launcher page they open (not even one minted for
    the same task), no `k`."""
    task = protocol.new_task()
    permit = protocol.mint_permit(task)
    link = protocol.mint_launch_code(task)

    if "permit" in link.body:
        fail("LC-NO-PERMIT-IN-LINK", "the vscode-link payload has a permit field", [link.response])
    # The raw body, and the URLs as a browser gets them (JSON escapes undone; decoded below).
    text = "\n".join([link.response.text, _url(link, "vscodeUrl"), _url(link, "httpsUrl")])
    if permit.permit in text or permit.permit in unquote(text):
        fail("LC-NO-PERMIT-IN-LINK", "the payload carries the task's permit", [link.response])
    seen = _permits_in(text)
    if seen:
        fail("LC-NO-PERMIT-IN-LINK", f"the payload carries permits {seen}", [link.response])
    for name in ("vscodeUrl", "httpsUrl"):
        if "k" in _query(_url(link, name)):
            fail("LC-NO-PERMIT-IN-LINK", f"{name} has the retired `k` parameter", [link.response])

    page = _open_launcher(http, link, "LC-NO-PERMIT-IN-LINK")
    served, redirects = launcher_redirects(page)
    served += "\n" + page.text + "\n" + page.headers.get("location", "")
    if permit.permit in served or permit.permit in unquote(served) or _permits_in(served):
        fail("LC-NO-PERMIT-IN-LINK", "the launcher page of the link carries a permit", [page])
    if any("k" in _query(url) for url in redirects):
        fail("LC-NO-PERMIT-IN-LINK", "the launcher sends the retired `k` parameter", [page])
    checked("LC-NO-PERMIT-IN-LINK")


@pytest.mark.invariant("LC-LIFETIME-MAX")
def test_link_lifetime_never_exceeds_expiration_days(protocol: ProtocolSteps) -> None:
    """Protocol: "The browser-facing launch link lifetime is currently configurable from 1 to 14
    days". So expiresAt is at most expirationDays days after minting for 1..14, and at most 14
    days whatever else is asked. An out-of-range request may be clamped or rejected (4xx), both
    legal; 1..14 must be served. Shorter lifetimes are the target's choice."""
    for days in (1, 14, 15, 30, 365, 0, -1):
        response = protocol.launch_link_response(protocol.new_task(), expirationDays=days)

        in_range = 1 <= days <= MAX_LINK_DAYS
        what = f"vscode-link with expirationDays {days}"
        if not in_range and not response.is_success:
            # Rejecting expirationDays outside 1..14 is as good as clamping it.
            assert_rejected(response, "LC-LIFETIME-MAX", what=what)
            continue
        body = assert_success(response, "LC-LIFETIME-MAX", what=what)
        expires_at = body.get("expiresAt") if isinstance(body, dict) else None
        if not ProtocolSteps.is_number(expires_at):
            fail("LC-LIFETIME-MAX", f"{what} answered without a numeric expiresAt", [response])
        lifetime = expires_at - ProtocolSteps.server_time(response)
        bound = days if in_range else MAX_LINK_DAYS
        if lifetime > bound * DAY + CLOCK_SKEW:
            fail(
                "LC-LIFETIME-MAX",
                f"{what} gave a code that lives {lifetime / DAY:.2f} days (at most {bound})",
                [response],
            )
    checked("LC-LIFETIME-MAX")


# -- LC-EXCHANGE, LC-REPLAY --------------------------------------------------------------------


def _permit(
    protocol: ProtocolSteps, response: httpx.Response, task: TaskRef, invariant: str
) -> PermitSession:
    """The permit of a successful exchange, which must name the pair it was asked for: the
    documented answer carries projectId and taskId, and the protocol marks neither optional."""
    permit = protocol.exchanged_permit(response, task, invariant)
    body = json_or_none(response)
    for field, wanted in (("projectId", task.project_id), ("taskId", task.task_id)):
        if body.get(field) != wanted:
            fail(
                invariant,
                f"the exchange for {task.project_id}/{task.task_id} answered {field} "
                f"{body.get(field, '(none)')!r}",
                [response],
            )
    return permit


@pytest.mark.invariant("LC-EXCHANGE")
def test_exchange_returns_a_permit_for_exactly_that_pair(protocol: ProtocolSteps) -> None:
    """The exchanged permit opens the code's pair and no other: not a sibling task, not the
    pair of a code minted just before it."""
    earlier, task = protocol.new_task(), protocol.new_task()
    sibling = protocol.new_task(task.project_id, number=2)
    earlier_link = protocol.mint_launch_code(earlier)
    link = protocol.mint_launch_code(task)

    permit = _permit(protocol, protocol.exchange(link.code, task), task, "LC-EXCHANGE")
    earlier_permit = _permit(
        protocol, protocol.exchange(earlier_link.code, earlier), earlier, "LC-EXCHANGE"
    )

    protocol.assert_permit_opens(permit, "LC-EXCHANGE", what="the exchanged permit")
    protocol.assert_permit_opens(earlier_permit, "LC-EXCHANGE", what="the earlier code's permit")
    sibling_permit = protocol.mint_permit(sibling)
    protocol.assert_permit_confined(permit, sibling, "LC-EXCHANGE", other_permit=sibling_permit)
    protocol.assert_permit_confined(permit, earlier, "LC-EXCHANGE", other_permit=earlier_permit)
    checked("LC-EXCHANGE")


@pytest.mark.invariant("LC-REPLAY")
def test_used_code_is_rejected(protocol: ProtocolSteps) -> None:
    """A code works once: its first exchange gets the permit, the replay gets a 4xx and no
    permit."""
    task = protocol.new_task()
    link = protocol.mint_launch_code(task)
    first = _permit(protocol, protocol.exchange(link.code, task), task, "LC-EXCHANGE")
    controlled("LC-REPLAY")  # the rightful first exchange of this very code succeeded

    replay = protocol.exchange(link.code, task)

    assert_rejected(replay, "LC-REPLAY", what="a replayed launch code", protected=[first.permit])


# -- LC-MATCH ------------------------------------------------------------------------------------


def _cyrillic(value: str) -> str:
    near = cyrillic_look_alike(value)
    if near is None:
        raise AssertionError(f"no look-alike letter in {value!r}")
    return near


def _fullwidth(value: str) -> str:
    near = fullwidth_letter(value)
    if near is None:
        raise AssertionError(f"no ASCII letter in {value!r}")
    return near


Mismatch = Callable[[TaskRef, ProtocolSteps], tuple[str, str]]
# Every way an exchange may name "almost" the code's pair, grouped by how it differs.
MISMATCHES: dict[str, dict[str, Mismatch]] = {
    "case": {
        "task lower-case": lambda t, p: (t.project_id, t.task_id.lower()),
        "project lower-case": lambda t, p: (t.project_id.lower(), t.task_id),
        "both lower-case": lambda t, p: (t.project_id.lower(), t.task_id.lower()),
    },
    "whitespace": {
        "task trailing space": lambda t, p: (t.project_id, t.task_id + " "),
        "project trailing space": lambda t, p: (t.project_id + " ", t.task_id),
        "task leading space": lambda t, p: (t.project_id, " " + t.task_id),
    },
    "look-alike": {
        "task Cyrillic letter": lambda t, p: (t.project_id, _cyrillic(t.task_id)),
        "project Cyrillic letter": lambda t, p: (_cyrillic(t.project_id), t.task_id),
        "task fullwidth letter": lambda t, p: (t.project_id, _fullwidth(t.task_id)),
    },
    "prefix": {
        "project truncated": lambda t, p: (t.project_id[:-1], t.task_id),
        "task truncated": lambda t, p: (t.project_id, t.task_id[:-1]),
        "project extended": lambda t, p: (t.project_id + "0", t.task_id),
        "task extended": lambda t, p: (t.project_id, t.task_id + "0"),
    },
    "other-ids": {
        "task other number": lambda t, p: (t.project_id, f"{t.project_id}-2"),
        "project other": lambda t, p: (p.new_task().project_id, t.task_id),
        "pair other": lambda t, p: (lambda o: (o.project_id, o.task_id))(p.new_task()),
        "task empty": lambda t, p: (t.project_id, ""),
    },
}


@pytest.mark.invariant("LC-MATCH")
@pytest.mark.parametrize("kind", list(MISMATCHES))
def test_exchange_with_a_mismatched_pair_is_rejected(protocol: ProtocolSteps, kind: str) -> None:
    """The exchange matches projectId and taskId exactly: no case folding, trimming,
    look-alikes or prefixes, and never the project alone. A fresh code per attempt, since whether a
    mismatch burns the code is the target's choice; a twin code minted for the same pair and
    exchanged with the exact pair gets its permit (the rejection is about the pair)."""
    for variant, mismatch in MISMATCHES[kind].items():
        task = protocol.new_task()
        link, twin = protocol.mint_launch_code(task), protocol.mint_launch_code(task)
        project_id, task_id = mismatch(task, protocol)

        response = protocol.exchange(link.code, task, projectId=project_id, taskId=task_id)
        exact = protocol.exchange(twin.code, task)

        assert_rejected(
            response, "LC-MATCH", what=f"an exchange for {project_id!r}/{task_id!r} ({variant})"
        )
        _permit(protocol, exact, task, "LC-MATCH")  # the exact pair: the positive control


@pytest.mark.invariant("LC-MATCH", "LC-EXCHANGE")
def test_code_after_a_mismatch_is_burnt_or_still_exact(protocol: ProtocolSteps) -> None:
    """After a rejected mismatch the code is either burnt (4xx) or still opens exactly its own
    pair; both are legal, handing out anything else is not."""
    task = protocol.new_task()
    link = protocol.mint_launch_code(task)
    mismatch = protocol.exchange(link.code, task, taskId=f"{task.project_id}-2")
    assert_rejected(mismatch, "LC-MATCH", what="an exchange for a sibling task")

    retry = protocol.exchange(link.code, task)

    if retry.is_success:
        # Still exact: the same code with the exact pair is the positive control of LC-MATCH.
        permit = _permit(protocol, retry, task, "LC-EXCHANGE")
        controlled("LC-MATCH")
        protocol.assert_permit_opens(permit, "LC-EXCHANGE", what="the permit after a mismatch")
        sibling = protocol.new_task(task.project_id, number=2)
        protocol.assert_permit_confined(permit, sibling, "LC-EXCHANGE")
        checked("LC-EXCHANGE")
    else:
        # Burnt: legal. A twin code exchanged with the exact pair is the positive control; what
        # LC-EXCHANGE says of a code still usable after a mismatch does not apply to this one.
        assert_rejected(retry, "LC-MATCH", what="the exact exchange after a mismatch")
        twin = protocol.mint_launch_code(task)
        _permit(protocol, protocol.exchange(twin.code, task), task, "LC-MATCH")


# -- LC-EXPIRY -----------------------------------------------------------------------------------


@pytest.mark.invariant("LC-EXPIRY")
def test_expired_code_is_rejected(
    protocol: ProtocolSteps,
    seecodes_settings: Settings,
    deferred_state: StateFile | None,
    run_prefix: str,
) -> None:
    """A code past its expiresAt is rejected; a twin code used in time works (so the rejection
    is about expiry). A code outliving --max-wait is kept for a later run (--state-file)."""
    task = protocol.new_task()
    twin = protocol.mint_launch_code(task)
    link = protocol.mint_launch_code(task)
    expires_at = link.body.get("expiresAt")
    if not ProtocolSteps.is_number(expires_at):
        fail("LC-MINT", "vscode-link answered without a numeric expiresAt", [link.response])
    minted_at = ProtocolSteps.server_time(link.response)
    lifetime = expires_at - minted_at
    max_wait = seecodes_settings.max_wait
    if lifetime + EXPIRY_MARGIN > max_wait:
        pair = {"projectId": task.project_id, "taskId": task.task_id, "route": EXCHANGE_ROUTE}
        defer_expiry(
            deferred_state,
            Deferred(
                "launch-code", "LC-EXPIRY", link.code, expires_at, minted_at, run_prefix, pair
            ),
            detail=f"launch codes live {lifetime:.0f} s here; waiting past one's expiresAt "
            f"exceeds --max-wait {max_wait:.0f} s",
            configure=f"--max-wait {lifetime + EXPIRY_MARGIN:.0f} or more, or a target "
            "configured with short launch-code lifetimes",
        )
    _permit(protocol, protocol.exchange(twin.code, task), task, "LC-EXCHANGE")
    controlled("LC-EXPIRY")  # the twin, exchanged in time, got its permit

    PROGRESS.sleep(lifetime + EXPIRY_MARGIN, "a launch code to expire (LC-EXPIRY)")
    response = protocol.exchange(link.code, task)

    assert_rejected(response, "LC-EXPIRY", what=f"a launch code {lifetime:.1f} s past expiresAt")


@pytest.mark.invariant("LC-EXPIRY")
def test_code_kept_by_an_earlier_run_is_rejected_after_expiry(
    protocol: ProtocolSteps, deferred_state: StateFile | None
) -> None:
    """Codes an earlier run kept in the state file, now past expiresAt + 60 s by the target's
    clock, are each exchanged once on the pair they were minted for and must be refused; a fresh
    code exchanged now works (so the refusal is about expiry)."""
    due = claim_due(deferred_state, "launch-code", "LC-EXPIRY", engine_now(protocol.http))
    answers = present_due(
        deferred_state,
        due,
        lambda entry: protocol.exchange(
            entry.credential, TaskRef(entry.context["projectId"], entry.context["taskId"])
        ),
    )
    fresh = protocol.new_task()
    _permit(protocol, protocol.exchange(protocol.mint_launch_code(fresh).code, fresh), fresh,
            "LC-EXCHANGE")  # fmt: skip
    controlled("LC-EXPIRY")
    for entry, response in answers:
        what = f"a launch code kept since {utc(entry.minted_at)}, expired {utc(entry.expires_at)}"
        assert_rejected(response, "LC-EXPIRY", what=what)
        LOG.note("LC-EXPIRY", verified_note(entry))


# -- LC-RACE -------------------------------------------------------------------------------------


def _won_permit(response: BurstResponse) -> bool:
    body = json_or_none(response)
    return 200 <= response.status < 300 and isinstance(body, dict) and bool(body.get("permit"))


@pytest.mark.invariant("LC-RACE")
def test_concurrent_exchanges_of_one_code_yield_one_permit(
    protocol: ProtocolSteps, target: Target, seecodes_settings: Settings
) -> None:
    """N synchronized exchanges of one code: exactly one permit, every other request a clean
    4xx, and the one permit opens the pair."""
    settings = seecodes_settings
    campaign = RaceCampaign("LC-RACE", wanted=settings.race_bursts)
    for burst in campaign:
        task = protocol.new_task()
        link = protocol.mint_launch_code(task)
        body = json.dumps(
            {"code": link.code, "projectId": task.project_id, "taskId": task.task_id}
        ).encode()
        request = PreparedRequest(
            "POST",
            "/v1/security/launch-exchange",
            {"Content-Type": "application/json"},
            body,
        )

        result = campaign.send(
            send_burst,
            target.base_url,
            [request] * settings.race_size,
            technique=settings.race_technique,
            timeout=settings.request_timeout,
            tls=settings.tls,
        )
        if result is None or not campaign.conclusive(result, is_win=_won_permit):
            continue  # answers began early, or were throttled or refused: proves nothing

        winner = assert_single_winner(
            result,
            "LC-RACE",
            is_win=_won_permit,
            what=f"burst {burst}: one launch code exchanged {settings.race_size} times at once",
        )
        won: Any = result.responses[winner].json()
        permit = PermitSession(protocol.http, str(won["permit"]), task)
        protocol.assert_permit_opens(permit, "LC-RACE", what="the race winner's permit")
    campaign.finish()


# -- LC-NOT-PERMIT -------------------------------------------------------------------------------


def _start_code_pair_routes(protocol: ProtocolSteps, registry: RunRegistry) -> PendingRoutes:
    """Routes of a fresh pair, its run started early (settling beside the session's others)."""
    return protocol.start_permit_routes(protocol.new_task(), registry)


EARLY_RUNS = {"test_launch_code_is_not_a_permit": _start_code_pair_routes}


@pytest.mark.invariant("LC-NOT-PERMIT")
def test_launch_code_is_not_a_permit(protocol: ProtocolSteps, early_runs: EarlyRuns) -> None:
    """An unused launch code as bearer is rejected on every permit route of its own pair,
    where the pair's permit succeeds."""
    pending: PendingRoutes = early_runs.take(_start_code_pair_routes)
    task = pending.task
    routes = ProtocolSteps.settled_routes(pending, early_runs.registry, "LC-NOT-PERMIT")
    link = protocol.mint_launch_code(task)

    protocol.assert_not_a_permit({"an unused launch code": link.code}, "LC-NOT-PERMIT", on=routes)
