"""Task permits: the bearer credential of /v1/tasks/* and /v1/projects/*/indexes/*.

Protocol: "Task-scoped permits", POST /v1/security/task-permit and every permit route. A permit
is bound to one project/task pair; the server rejects task, run and project-index requests
outside that exact binding, and ids in a request body never move a write elsewhere.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import time
import uuid
from typing import Any

import httpx
import pytest

from seecodes_conformance.deferred import Deferred, StateFile, utc
from seecodes_conformance.flows import SNAPSHOT_VISIBLE_WITHIN_S, ProtocolSteps
from seecodes_conformance.flows.expiry import (
    claim_due,
    defer_expiry,
    engine_now,
    present_due,
    verified_note,
)
from seecodes_conformance.flows.probes import PendingRoutes, PermitRoutes
from seecodes_conformance.flows.run_registry import EarlyRuns, RunRegistry, Starter
from seecodes_conformance.http import PermitSession, is_throttled, json_or_none
from seecodes_conformance.ids import TaskRef, near_misses
from seecodes_conformance.oracle import (
    assert_rejected,
    assert_success,
    checked,
    controlled,
    fail,
    throttled,
)
from seecodes_conformance.outcomes import LOG, not_verified
from seecodes_conformance.progress import PROGRESS
from seecodes_conformance.redaction import REGISTRY
from seecodes_conformance.settings import Settings

MAX_PERMIT_LIFETIME = 24 * 3600.0  # "a fresh 24-hour permit": at most, a shorter one is legal
CLOCK_SKEW = 60.0  # seconds of slack between "minted" and the target's expiresAt
EXPIRY_MARGIN = 2.0  # seconds past expiresAt before an expired permit is tried
PROGRESS_ROUTE = "POST /v1/tasks/{taskId}/progress"


def _marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


def _neighbours(protocol: ProtocolSteps) -> tuple[TaskRef, TaskRef, TaskRef, TaskRef]:
    """(own task, a sibling task in the same project, a task of another project, the own taskId
    in another project).

    The last shares every id but the project. Jira issue keys are unique on a site, so a
    binding keyed by the task alone refuses the other two and still lets this one through,
    where the protocol binds the exact projectId/taskId pair.
    """
    own = protocol.new_task()
    twin = TaskRef(protocol.new_task().project_id, own.task_id)
    return own, protocol.new_task(own.project_id, number=2), protocol.new_task(), twin


# -- runs started early: they settle side by side, not one after another ---------------------


def _start_required_routes(protocol: ProtocolSteps, registry: RunRegistry) -> PendingRoutes:
    return protocol.start_permit_routes(protocol.new_task(), registry)


def _start_forge_routes(protocol: ProtocolSteps, registry: RunRegistry) -> PendingRoutes:
    return protocol.start_permit_routes(protocol.new_task(), registry)


def _start_neighbour_routes(
    protocol: ProtocolSteps, registry: RunRegistry
) -> tuple[TaskRef, list[PendingRoutes]]:
    """The own task, and routes of its neighbours' runs (see ``_neighbours``)."""
    own, *neighbours = _neighbours(protocol)
    return own, [protocol.start_permit_routes(t, registry) for t in neighbours]


EARLY_RUNS = {
    "test_permit_routes_reject_a_missing_or_bad_permit": _start_required_routes,
    "test_forge_token_or_request_key_is_not_a_permit": _start_forge_routes,
    "test_run_routes_only_for_runs_of_the_permit_pair": _start_neighbour_routes,
}


def _settled_routes(early_runs: EarlyRuns, starter: Starter, invariant: str) -> PermitRoutes:
    """The routes ``starter`` arranged, once their run settled (not verified if it did not)."""
    pending: PendingRoutes = early_runs.take(starter)
    return ProtocolSteps.settled_routes(pending, early_runs.registry, invariant)


def _with_progress(
    protocol: ProtocolSteps, task: TaskRef, invariant: str
) -> tuple[PermitSession, str]:
    """A permit for ``task`` whose progress holds a baseline document, and its marker."""
    permit = protocol.mint_permit(task)
    marker = _marker(f"baseline-{task.task_id}")
    response = protocol.write_progress(permit, protocol.marked_progress(marker))
    assert_success(response, invariant, what="a baseline progress write")
    return permit, marker


# -- PERMIT-MINT, PERMIT-LIFETIME ----------------------------------------------------------------


@pytest.mark.invariant("PERMIT-MINT")
def test_task_permit_echoes_the_pair_and_opens_it(protocol: ProtocolSteps) -> None:
    """task-permit answers cloudId, the requested projectId/taskId, permit and expiresAt, and
    the permit works on that pair."""
    task = protocol.new_task()

    response = protocol.task_permit_response(task)

    body = assert_success(response, "PERMIT-MINT", what="minting a task permit")
    if not isinstance(body, dict):
        fail("PERMIT-MINT", "task-permit answered without a JSON object", [response])
    for field in ("cloudId", "permit"):
        if not isinstance(body.get(field), str) or not body[field]:
            fail("PERMIT-MINT", f"task-permit answered without a {field}", [response])
    for field, wanted in (("projectId", task.project_id), ("taskId", task.task_id)):
        if body.get(field) != wanted:
            fail("PERMIT-MINT", f"task-permit echoes {field} {body.get(field)!r}", [response])
    if not ProtocolSteps.is_number(body.get("expiresAt")):
        fail("PERMIT-MINT", "task-permit answered without a numeric expiresAt", [response])
    permit = PermitSession(protocol.http, body["permit"], task)
    protocol.assert_permit_opens(permit, "PERMIT-MINT", what="a freshly minted permit")
    checked("PERMIT-MINT")


@pytest.mark.invariant("PERMIT-LIFETIME")
@pytest.mark.parametrize("route", ["task-permit", "launch-exchange"])
def test_permit_lives_at_most_24_hours(protocol: ProtocolSteps, route: str) -> None:
    """Protocol: "The current backend issues a fresh 24-hour permit after launch-code exchange or
    direct task-permit minting". Both ways give a permit that is still valid when handed out (fresh)
    and expires at most 24 hours after minting (expiresAt in epoch seconds)."""
    task = protocol.new_task()
    if route == "task-permit":
        response = protocol.task_permit_response(task)
    else:
        response = protocol.exchange(protocol.mint_launch_code(task).code, task)

    body = assert_success(response, "PERMIT-LIFETIME", what=f"getting a permit via {route}")
    expires_at = body.get("expiresAt") if isinstance(body, dict) else None
    if not ProtocolSteps.is_number(expires_at):
        fail("PERMIT-LIFETIME", f"{route} answered without a numeric expiresAt", [response])
    lifetime = expires_at - ProtocolSteps.server_time(response)
    if lifetime > MAX_PERMIT_LIFETIME + CLOCK_SKEW:
        fail(
            "PERMIT-LIFETIME",
            f"a permit from {route} lives {lifetime / 3600:.2f} h, more than 24 h",
            [response],
        )
    if lifetime <= -CLOCK_SKEW:
        fail("PERMIT-LIFETIME", f"a fresh permit from {route} is already expired", [response])
    checked("PERMIT-LIFETIME")


def _progress_write(protocol: ProtocolSteps, permit: PermitSession) -> httpx.Response:
    """What the IDE does with a permit: a progress write for its own task. (The context read
    is no probe of acceptance: "Context not found" is a 4xx a valid permit may get.)"""
    return protocol.write_progress(permit, protocol.marked_progress(_marker("expiry")))


@pytest.mark.invariant("PERMIT-LIFETIME")
def test_expired_permit_is_rejected(
    protocol: ProtocolSteps,
    seecodes_settings: Settings,
    deferred_state: StateFile | None,
    run_prefix: str,
) -> None:
    """A "24-hour permit" ends: past its expiresAt it no longer opens its own task's routes,
    where it worked while fresh. A permit outliving --max-wait is kept for a later run."""
    task = protocol.new_task()
    response = protocol.task_permit_response(task)
    body = assert_success(response, "PERMIT-MINT", what="minting a task permit")
    permit, expires_at = body.get("permit"), body.get("expiresAt")
    if not isinstance(permit, str) or not ProtocolSteps.is_number(expires_at):
        fail("PERMIT-MINT", "task-permit answered without a permit and numeric expiresAt",
             [response])  # fmt: skip
    session = PermitSession(protocol.http, permit, task)
    minted_at = ProtocolSteps.server_time(response)
    lifetime = expires_at - minted_at
    max_wait = seecodes_settings.max_wait
    if lifetime + EXPIRY_MARGIN > max_wait:
        pair = {"projectId": task.project_id, "taskId": task.task_id, "route": PROGRESS_ROUTE}
        defer_expiry(
            deferred_state,
            Deferred("permit", "PERMIT-LIFETIME", permit, expires_at, minted_at, run_prefix, pair),
            detail=f"permits live {lifetime:.0f} s here; waiting past one's expiresAt exceeds "
            f"--max-wait {max_wait:.0f} s",
            configure=f"--max-wait {lifetime + EXPIRY_MARGIN:.0f} or more, or a target "
            "configured with short permit lifetimes",
        )
    assert_success(_progress_write(protocol, session), "PERMIT-LIFETIME",
                   what="a progress write with the fresh permit")  # fmt: skip

    PROGRESS.sleep(lifetime + EXPIRY_MARGIN, "a permit to expire (PERMIT-LIFETIME)")
    expired = _progress_write(protocol, session)

    assert_rejected(expired, "PERMIT-LIFETIME", what=f"a permit {lifetime:.1f} s past expiresAt")


@pytest.mark.invariant("PERMIT-LIFETIME")
def test_permit_kept_by_an_earlier_run_is_rejected_after_expiry(
    protocol: ProtocolSteps, deferred_state: StateFile | None
) -> None:
    """Permits an earlier run kept in the state file, now past expiresAt + 60 s by the target's
    clock, are each presented once on their own task's progress write and must be refused; a
    fresh permit does that write now (so the refusal is about expiry)."""
    due = claim_due(deferred_state, "permit", "PERMIT-LIFETIME", engine_now(protocol.http))

    def present(entry: Deferred) -> httpx.Response:
        task = TaskRef(entry.context["projectId"], entry.context["taskId"])
        return _progress_write(protocol, PermitSession(protocol.http, entry.credential, task))

    answers = present_due(deferred_state, due, present)
    fresh = protocol.mint_permit(protocol.new_task())
    assert_success(_progress_write(protocol, fresh), "PERMIT-LIFETIME",
                   what="a progress write with a fresh permit")  # fmt: skip
    for entry, response in answers:
        what = f"a permit kept since {utc(entry.minted_at)}, expired {utc(entry.expires_at)}"
        assert_rejected(response, "PERMIT-LIFETIME", what=what)
        LOG.note("PERMIT-LIFETIME", verified_note(entry))


# -- PERMIT-REQUIRED, FORGE-NOT-PERMIT -----------------------------------------------------------


def _tampered(value: str, where: str) -> str:
    """``value`` with three alphanumerics changed around the middle or near the end.

    Three, and not the last character alone: a base64 tail may carry bits a decoder ignores.
    """
    alnum = [i for i, ch in enumerate(value) if ch.isascii() and ch.isalnum()]
    if where == "middle":
        centre = len(value) // 2
        picked = sorted(alnum, key=lambda i: abs(i - centre))[:3]
    else:
        picked = [i for i in alnum if i < len(value) - 1][-3:]
    chars = list(value)
    for i in picked:
        ch = chars[i]
        chars[i] = "a" if ch.isdigit() else "7"
    return "".join(chars)


BAD_PERMITS = ("missing", "garbage", "random", "tampered-middle", "tampered-end", "truncated")


def _bad_permit(kind: str, real: str) -> str | None:
    if kind == "missing":
        return None
    if kind == "garbage":
        return "garbage"
    if kind == "random":
        return secrets.token_urlsafe(len(real) * 3 // 4 or 32)
    if kind == "truncated":
        return real[: max(len(real) - 4, 1)]
    return _tampered(real, kind.removeprefix("tampered-"))


@pytest.mark.invariant("PERMIT-REQUIRED")
def test_permit_routes_reject_a_missing_or_bad_permit(
    protocol: ProtocolSteps, early_runs: EarlyRuns
) -> None:
    """Without a permit, with a made-up one, or with a tampered or truncated copy of a real
    one, every permit route of the real permit's own pair answers a 4xx and stores nothing;
    the real permit succeeds on each of them."""
    routes = _settled_routes(early_runs, _start_required_routes, "PERMIT-REQUIRED")
    bad_permits = {
        f"a {kind} permit": _bad_permit(kind, routes.permit.permit) for kind in BAD_PERMITS
    }
    for bad in bad_permits.values():
        REGISTRY.add(bad, "bad-permit")

    protocol.assert_not_a_permit(bad_permits, "PERMIT-REQUIRED", on=routes)


@pytest.mark.invariant("FORGE-NOT-PERMIT")
def test_forge_token_or_request_key_is_not_a_permit(
    protocol: ProtocolSteps, early_runs: EarlyRuns
) -> None:
    """The Jira App's credentials open no permit route, not even for a pair it may mint; the
    pair's permit succeeds on each of them."""
    routes = _settled_routes(early_runs, _start_forge_routes, "FORGE-NOT-PERMIT")
    other = protocol.jira("a")  # its key is spent here, never again
    credentials = {"a Forge token": other.forge_token(), "a request key": other.fresh_key()}
    for kind, credential in credentials.items():
        REGISTRY.add(credential, kind.removeprefix("a "))

    protocol.assert_not_a_permit(credentials, "FORGE-NOT-PERMIT", on=routes)


# -- PERMIT-BINDING-CONTEXT ----------------------------------------------------------------------


@pytest.mark.invariant("PERMIT-BINDING-CONTEXT")
def test_context_is_served_only_for_the_permit_pair(protocol: ProtocolSteps) -> None:
    """Ids in the query never make /v1/tasks/context serve another pair's context, which that
    pair's own permit is served."""
    own, *neighbours = _neighbours(protocol)
    markers = {t: _marker(f"context-{t.project_id}-{t.task_id}") for t in (own, *neighbours)}
    permits = {t: protocol.permit_with_context(t, markers[t]) for t in markers}
    for t in neighbours:
        served = protocol.read_context(permits[t])
        if is_throttled(served.status_code, served.headers):
            throttled(served, "PERMIT-BINDING-CONTEXT", f"reading {t.task_id}'s own context")
        if markers[t] not in served.text:
            not_verified(
                "PERMIT-BINDING-CONTEXT",
                "capability",
                f"a context stored through vscode-link jiraContext is not served to its own "
                f"pair's permit (GET /v1/tasks/context answered {served.status_code}), so no "
                "other pair's context can be told apart",
                "a target that stores the optional jiraContext of POST /v1/security/vscode-link",
            )
        controlled("PERMIT-BINDING-CONTEXT")  # the pair's own permit reads its context

    for t in neighbours:
        for params in (
            {"projectId": t.project_id, "taskId": t.task_id},
            {"taskId": t.task_id},
            {"projectId": t.project_id},
        ):
            response = permits[own].get("/v1/tasks/context", params=params)

            if response.is_success or ProtocolSteps.is_context_not_found(json_or_none(response)):
                if markers[t] in response.text:
                    fail(
                        "PERMIT-BINDING-CONTEXT",
                        f"a permit for {own.task_id} read the context of {t.task_id} "
                        f"by asking with {sorted(params)}",
                        [response],
                    )
            else:
                assert_rejected(
                    response,
                    "PERMIT-BINDING-CONTEXT",
                    what=f"context of {t.task_id} with a permit for {own.task_id}",
                    protected=[markers[t]],
                )
    checked("PERMIT-BINDING-CONTEXT")


# -- PERMIT-BINDING-PROGRESS, PERMIT-BINDING-PROGRESS-READ ---------------------------------------


@pytest.mark.invariant("PERMIT-BINDING-PROGRESS")
def test_progress_write_only_for_the_permit_task(protocol: ProtocolSteps) -> None:
    """POST /v1/tasks/{taskId}/progress with another task in the path is rejected and leaves
    that task's progress as it was. (The path carries the taskId alone, so the own taskId in
    another project is the permit's own path here.)"""
    own, sibling, other, _ = _neighbours(protocol)
    permit = protocol.mint_permit(own)

    for t in (sibling, other):
        owner, _ = _with_progress(protocol, t, "PERMIT-BINDING-PROGRESS")
        before = protocol.progress_of(owner)

        response = protocol.write_progress(
            permit, protocol.marked_progress(_marker("intruder")), task_id=t.task_id
        )

        assert_rejected(
            response,
            "PERMIT-BINDING-PROGRESS",
            what=f"a progress write for {t.task_id} with a permit for {own.task_id}",
            readback=functools.partial(protocol.progress_of, owner),
            before=before,
        )


@pytest.mark.invariant("PERMIT-BINDING-PROGRESS-READ")
def test_progress_read_only_for_the_permit_pair(protocol: ProtocolSteps) -> None:
    """GET progress with a permit needs both the query projectId and the path taskId to be the
    permit's; any other combination is rejected without the other pair's document, which that
    pair's own permit reads. (The own taskId in another project is among the combinations.)"""
    own, sibling, other, _ = _neighbours(protocol)
    permit, _ = _with_progress(protocol, own, "PERMIT-BINDING-PROGRESS-READ")
    owners = [_with_progress(protocol, t, "PERMIT-BINDING-PROGRESS-READ") for t in (sibling, other)]
    markers = [marker for _, marker in owners]
    for owner, marker in owners:
        read = protocol.read_progress(owner)
        assert_success(read, "PERMIT-BINDING-PROGRESS-READ", what="reading the pair's own progress")
        if marker not in read.text:
            fail(
                "PERMIT-BINDING-PROGRESS-READ",
                f"{owner.task.task_id}'s own permit does not read back its progress",
                [read],
            )

    for project_id, task_id in (
        (other.project_id, own.task_id),
        (own.project_id, sibling.task_id),
        (other.project_id, other.task_id),
        (own.project_id, other.task_id),
        (own.project_id.lower(), own.task_id),
    ):
        response = protocol.read_progress(permit, project_id, task_id)

        assert_rejected(
            response,
            "PERMIT-BINDING-PROGRESS-READ",
            what=f"reading {project_id}/{task_id} with a permit for {own.task_id}",
            protected=markers,
        )


# -- near misses: "exactly matches" is not "matches after folding" -------------------------------

# One kind per comparison a lenient implementation forgives (see ids.near_misses).
NEAR_MISS_KINDS = list(near_misses("SCCQZT1B-1"))


def _near(value: str, kind: str) -> str:
    near = near_misses(value).get(kind)
    if near is None:
        pytest.skip(f"{value!r} has no {kind} near miss (a --run-prefix without those letters)")
    return near


@pytest.mark.invariant("PERMIT-BINDING-PROGRESS", "PERMIT-BINDING-PROGRESS-READ")
@pytest.mark.parametrize("kind", NEAR_MISS_KINDS)
def test_progress_binding_is_exact_not_near(protocol: ProtocolSteps, kind: str) -> None:
    """Protocol: "The server rejects requests unless the path taskId exactly matches the
    permit's bound taskId" (write), and for the read "unless query projectId exactly matches
    the permit's bound projectId and path taskId exactly matches the permit's bound taskId".
    A near miss of the bound id (case, whitespace, a look-alike letter, a prefix either way) is
    another id: rejected, where the exact ids succeed on the same route with the same permit."""
    task = protocol.new_task()
    permit, _ = _with_progress(protocol, task, "PERMIT-BINDING-PROGRESS")  # exact write: control
    exact_read = protocol.read_progress(permit)
    assert_success(exact_read, "PERMIT-BINDING-PROGRESS-READ", what="the exact progress read")
    near_task, near_project = _near(task.task_id, kind), _near(task.project_id, kind)

    write = protocol.write_progress(permit, protocol.marked_progress(_marker(kind)), near_task)
    assert_rejected(
        write,
        "PERMIT-BINDING-PROGRESS",
        what=f"a progress write to {near_task!r} ({kind} of the bound {task.task_id!r})",
    )
    for project_id, task_id, what in (
        (task.project_id, near_task, f"taskId {near_task!r}"),
        (near_project, task.task_id, f"projectId {near_project!r}"),
    ):
        read = protocol.read_progress(permit, project_id, task_id)
        assert_rejected(
            read,
            "PERMIT-BINDING-PROGRESS-READ",
            what=f"a progress read of {what} ({kind} of the bound id)",
        )


@pytest.mark.invariant("PERMIT-BINDING-INDEX")
@pytest.mark.parametrize("kind", NEAR_MISS_KINDS)
def test_index_binding_is_exact_not_near(protocol: ProtocolSteps, kind: str) -> None:
    """Protocol: the server rejects project-index requests outside the permit's exact binding.
    A near miss of the bound projectId in the path is another project: rejected, where the exact
    project's query succeeds with the same permit and body."""
    task = protocol.new_task()
    permit = protocol.mint_permit(task)
    path, digest = f"src/near-{uuid.uuid4().hex[:12]}.ts", hashlib.sha256(b"near").hexdigest()
    bodies = {
        "query": {"items": [{"path": path, "hash": digest}]},
        "upsert": {"entries": {path: protocol.index_entry(digest)}},
    }
    for action, body in bodies.items():  # the exact project, same permit and body: the control
        exact = permit.post(f"/v1/projects/{task.project_id}/indexes/{action}", json=body)
        assert_success(exact, "PERMIT-BINDING-INDEX", what=f"the exact index {action}")
    near_project = _near(task.project_id, kind)

    for action, body in bodies.items():
        response = permit.post(f"/v1/projects/{near_project}/indexes/{action}", json=body)
        assert_rejected(
            response,
            "PERMIT-BINDING-INDEX",
            what=f"an index {action} of project {near_project!r} ({kind} of the bound project)",
        )


# -- PERMIT-BINDING-RUN --------------------------------------------------------------------------


@pytest.mark.invariant("PERMIT-BINDING-RUN")
def test_run_routes_only_for_runs_of_the_permit_pair(
    protocol: ProtocolSteps, early_runs: EarlyRuns
) -> None:
    """start, status, output and logs reject runs of a sibling task and of another project,
    which the run's own permit reads and starts; a rejected start leaves the run unstarted."""
    own, pending = early_runs.take(_start_neighbour_routes)
    permit = protocol.mint_permit(own)

    for arranged in pending:
        t = arranged.task
        routes = ProtocolSteps.settled_routes(arranged, early_runs.registry, "PERMIT-BINDING-RUN")
        owner, settled, idle = routes.permit, routes.settled_run, routes.idle_run
        what = f"a permit for {own.project_id}/{own.task_id} on a run of {t.project_id}/{t.task_id}"
        # Output is "the final text artifact produced by a successful AI run" only.
        reads = ("", "/output", "/logs") if routes.settled_as == "succeeded" else ("", "/logs")

        for suffix in reads:
            response = permit.get(f"/v1/tasks/{settled}{suffix}")
            assert_rejected(response, "PERMIT-BINDING-RUN", what=f"GET run{suffix} with {what}")
        before = protocol.run_view(owner, idle)
        response = protocol.start_run(permit, idle)
        assert_rejected(
            response,
            "PERMIT-BINDING-RUN",
            what=f"starting a run with {what}",
            readback=functools.partial(protocol.run_view, owner, idle),
            before=before,
        )

        for suffix in reads:
            read = owner.get(f"/v1/tasks/{settled}{suffix}")
            assert_success(read, "PERMIT-BINDING-RUN", what=f"GET run{suffix} with its own permit")
        start = protocol.start_run(owner, idle)
        assert_success(start, "PERMIT-BINDING-RUN", what="starting the run with its own permit")


# -- PERMIT-BINDING-SNAPSHOT ---------------------------------------------------------------------


def _competition_view(protocol: ProtocolSteps, task: TaskRef) -> list[str]:
    """The team-competition items of ``task`` (scoped to its project), as comparable text."""
    response = protocol.team_competition(project_id=task.project_id)
    body = assert_success(response, "PERMIT-BINDING-SNAPSHOT", what="reading team-competition")
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        fail("PERMIT-BINDING-SNAPSHOT", "team-competition answered without items", [response])
    return sorted(
        json.dumps(item, sort_keys=True)
        for item in items
        if isinstance(item, dict) and item.get("taskId", task.task_id) == task.task_id
    )


def _board_after_own_snapshot(protocol: ProtocolSteps, task: TaskRef, empty: list[str]) -> Any:
    """``task``'s board once the snapshot its own permit stored shows up on it (the control).

    A board that aggregates asynchronously may take a moment; one that never shows the
    snapshot leaves nothing to tell a cross-pair write by (SNAPSHOT-STORED's finding).
    """
    deadline = time.monotonic() + SNAPSHOT_VISIBLE_WITHIN_S
    while (board := _competition_view(protocol, task)) == empty:
        if time.monotonic() > deadline:
            not_verified(
                "PERMIT-BINDING-SNAPSHOT",
                "timeout",
                f"a snapshot stored with {task.task_id}'s own permit did not reach "
                f"team-competition within {SNAPSHOT_VISIBLE_WITHIN_S:.0f} s, so where another "
                "permit's snapshot lands cannot be read",
                "a target whose stored activity snapshots reach GET /v1/jira/team-competition "
                f"within {SNAPSHOT_VISIBLE_WITHIN_S:.0f} s",
            )
        time.sleep(0.5)
    return board


@pytest.mark.invariant("PERMIT-BINDING-SNAPSHOT")
def test_snapshot_is_stored_only_against_the_permit_pair(protocol: ProtocolSteps) -> None:
    """Body ids in an activity snapshot never file it under another pair: the write is
    rejected, or stored against the permit's own pair; the other pair's board is unchanged."""
    own, *neighbours = _neighbours(protocol)
    permit = protocol.mint_permit(own)

    for t in neighbours:
        owner = protocol.mint_permit(t)
        empty = _competition_view(protocol, t)
        assert_success(protocol.write_snapshot(owner), "PERMIT-BINDING-SNAPSHOT",
                       what="a snapshot with the pair's own permit")  # fmt: skip
        before = _board_after_own_snapshot(protocol, t, empty)
        bodies = [{"projectId": t.project_id, "taskId": t.task_id}, {"taskId": t.task_id}]
        if t.project_id != own.project_id:
            bodies.append({"projectId": t.project_id})

        for ids in bodies:
            response = protocol.write_snapshot(permit, protocol.snapshot_now(**ids))
            what = f"a snapshot for {sorted(ids.values())} with a permit for {own.task_id}"
            if response.is_success:
                if _competition_view(protocol, t) != before:
                    fail(
                        "PERMIT-BINDING-SNAPSHOT",
                        f"{what} was filed under {t.task_id}",
                        [response],
                    )
            else:
                assert_rejected(
                    response,
                    "PERMIT-BINDING-SNAPSHOT",
                    what=what,
                    readback=functools.partial(_competition_view, protocol, t),
                    before=before,
                )
    checked("PERMIT-BINDING-SNAPSHOT")


# -- PERMIT-BINDING-INDEX ------------------------------------------------------------------------


def _index_call(permit: PermitSession, project_id: str, op: str, body: Any) -> httpx.Response:
    return permit.post(f"/v1/projects/{project_id}/indexes/{op}", json=body)


@pytest.mark.invariant("PERMIT-BINDING-INDEX")
def test_index_routes_only_for_the_permit_project(protocol: ProtocolSteps) -> None:
    """Query and upsert of another project's index are rejected, leak nothing and change
    nothing; the project id must match exactly."""
    own, other = protocol.new_task(), protocol.new_task()
    permit = protocol.mint_permit(own)
    owner = protocol.mint_permit(other)
    marker = _marker("index")
    path, newcomer = f"src/{marker}.ts", f"src/{marker}-new.ts"
    digest = hashlib.sha256(path.encode()).hexdigest()
    assert_success(
        protocol.index_upsert(owner, {path: protocol.index_entry(digest, short=marker)}),
        "PERMIT-BINDING-INDEX",
        what="an index upsert with the project's own permit",
    )

    def view() -> Any:
        return (
            protocol.index_match(owner, path, digest),
            protocol.index_match(owner, newcomer, digest),
        )

    before = view()
    query = {"items": [{"path": path, "hash": digest}]}
    for project_id in (other.project_id, own.project_id.lower()):
        response = _index_call(permit, project_id, "query", query)
        assert_rejected(
            response,
            "PERMIT-BINDING-INDEX",
            what=f"an index query of {project_id} with a permit for {own.project_id}",
            protected=[marker],
        )
    upsert = {
        "entries": {newcomer: protocol.index_entry(digest, short="intruder")},
        "deletePaths": [path],
    }
    response = _index_call(permit, other.project_id, "upsert", upsert)
    assert_rejected(
        response,
        "PERMIT-BINDING-INDEX",
        what=f"an index upsert into {other.project_id} with a permit for {own.project_id}",
        readback=view,
        before=before,
    )
    own_query = _index_call(owner, other.project_id, "query", query)
    assert_success(own_query, "PERMIT-BINDING-INDEX", what="an index query with its own permit")
    if marker not in own_query.text:
        fail(
            "PERMIT-BINDING-INDEX",
            f"the project's own permit does not find the entry it upserted at {path}",
            [own_query],
        )


# -- BODY-NO-REDIRECT ----------------------------------------------------------------------------


@pytest.mark.invariant("BODY-NO-REDIRECT")
def test_body_ids_do_not_redirect_a_write(protocol: ProtocolSteps) -> None:
    """Another pair's ids in the body of init or of a progress write are rejected, or ignored:
    the run and the document belong to the permit's pair, and the named pair is untouched."""
    own, *neighbours = _neighbours(protocol)
    permit = protocol.mint_permit(own)

    for t in neighbours:
        owner, _ = _with_progress(protocol, t, "BODY-NO-REDIRECT")
        _assert_init_not_redirected(protocol, permit, owner)
        _assert_progress_not_redirected(protocol, permit, owner)
    checked("BODY-NO-REDIRECT")


def _assert_init_not_redirected(
    protocol: ProtocolSteps, permit: PermitSession, owner: PermitSession
) -> None:
    """init naming ``owner``'s pair: rejected (where init without those ids succeeds), or a
    run of the permit's pair, which ``owner`` cannot reach."""
    t = owner.task
    body = {"model": "strict light", "projectId": t.project_id, "taskId": t.task_id}
    response = permit.post("/v1/tasks/init", json=body)
    what = f"init for {t.task_id} in the body of a permit for {permit.task.task_id}"
    if not response.is_success:
        assert_rejected(response, "BODY-NO-REDIRECT", what=what)
        plain = permit.post("/v1/tasks/init", json={"model": "strict light"})
        assert_success(plain, "BODY-NO-REDIRECT", what="the same init without body ids")
        return
    run_id = (json_or_none(response) or {}).get("runId")
    if not isinstance(run_id, str):
        fail("BODY-NO-REDIRECT", f"{what} answered 2xx without a runId", [response])
    mine = permit.get(f"/v1/tasks/{run_id}")
    assert_success(mine, "BODY-NO-REDIRECT", what=f"reading the run of {what} with that permit")
    foreign = owner.get(f"/v1/tasks/{run_id}")
    assert_rejected(
        foreign,
        "BODY-NO-REDIRECT",
        what=f"{t.task_id}'s permit reading the run of {what} (served: the run is {t.task_id}'s)",
    )


def _assert_progress_not_redirected(
    protocol: ProtocolSteps, permit: PermitSession, owner: PermitSession
) -> None:
    """A progress write naming ``owner``'s pair in its body leaves that pair's progress alone."""
    t = owner.task
    before = protocol.progress_of(owner)
    doc = {
        **protocol.marked_progress(_marker("redirected")),
        "projectId": t.project_id,
        "taskId": t.task_id,
    }
    response = protocol.write_progress(permit, doc)
    what = f"progress for {permit.task.task_id} whose body names {t.task_id}"
    if response.is_success:
        if protocol.progress_of(owner) != before:
            fail("BODY-NO-REDIRECT", f"{what} changed {t.task_id}'s progress", [response])
    else:
        assert_rejected(
            response,
            "BODY-NO-REDIRECT",
            what=what,
            readback=functools.partial(protocol.progress_of, owner),
            before=before,
        )
