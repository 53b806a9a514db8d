"""Durability of single use: a restart of the target does not make used credentials new again.

Protocol: "The server accepts a Jira request key exactly once." and "The launch code is
single-use and the server rejects every replay after the first successful exchange." Neither
sentence makes an exception for a restart, so a key or a code used before the target restarts
stays used after it. An engine that keeps its replay records only in memory passes every
other replay test and fails here.

Each test uses a credential, restarts the target (the bundled engine restarts itself on its
database file; any other target through ``--restart-command``), replays the credential and shows
the rightful caller still succeeding after the restart (the positive control): the key's
successor works, the permit of the code's first exchange still opens its pair. A target that
forgot everything on restart refuses both the replay and the control: that is not verified,
never a pass. A replay is judged only while the credential is still within its lifetime, so an
expiry can never pass for a remembered use.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from seecodes_conformance.flows import ProtocolSteps
from seecodes_conformance.http import NEXT_KEY_HEADER, JiraAppSession, PermitSession, json_or_none
from seecodes_conformance.http.throttling import is_throttled
from seecodes_conformance.oracle import assert_rejected, assert_success, controlled
from seecodes_conformance.outcomes import not_verified
from seecodes_conformance.plugin.engine import NoRestart
from seecodes_conformance.restart import RestartFailed, TargetRestart
from seecodes_conformance.target import EXIT_TARGET_UNAVAILABLE

# Seconds a credential must still have to live when it is replayed: its expiry, not its use,
# would otherwise explain a rejection. expiresAt and Date are whole seconds, so two of slack.
LIFETIME_MARGIN_S = 2.0


class Lifetime:
    """Until when (our monotonic clock) a credential lives, from its ``expiresAt`` measured
    against the target's own clock when it answered."""

    def __init__(self, response: httpx.Response, expires_at: object) -> None:
        self.deadline: float | None = None
        if isinstance(expires_at, int | float) and not isinstance(expires_at, bool):
            remaining = float(expires_at) - ProtocolSteps.server_time(response)
            self.deadline = time.monotonic() + remaining

    def left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()


def _restart(restart: TargetRestart | NoRestart, invariant: str) -> float:
    """Restart the target; its duration in seconds. No capability or a failed restart: the
    check is not verified (a setup matter, never a protocol verdict); a target that no longer
    answers ends the run as an outage (exit 7), so later tests are not charged with it."""
    if isinstance(restart, NoRestart):
        not_verified(invariant, "capability", restart.detail, restart.configure)
    started = time.monotonic()
    try:
        restart.restart()
    except RestartFailed as exc:
        if exc.target_down:
            pytest.exit(
                f"seecodes: target unavailable: {restart.description} failed and the target "
                f"no longer answers: {exc}",
                returncode=EXIT_TARGET_UNAVAILABLE,
            )
        not_verified(
            invariant,
            "setup",
            f"{restart.description} failed: {exc}",
            "a restart command that exits 0 and leaves the target answering /healthz",
        )
    return time.monotonic() - started


def _still_alive(lifetime: Lifetime, invariant: str, what: str, took: float) -> None:
    """Stop the check when ``what`` may have expired during the restart."""
    left = lifetime.left()
    if left is not None and left < LIFETIME_MARGIN_S:
        not_verified(
            invariant,
            "lifetime",
            f"the restart took {took:.1f} s and {what} expired meanwhile, so a rejection "
            "would prove nothing about its use",
            "a faster restart, or longer credential lifetimes on the target",
        )


@pytest.mark.invariant("RK-REPLAY")
def test_used_request_key_stays_used_across_a_restart(
    protocol: ProtocolSteps,
    jira: JiraAppSession,
    target_restart: TargetRestart | NoRestart,
) -> None:
    """A key used before the restart is refused after it; its successor still works."""
    if isinstance(target_restart, NoRestart):
        not_verified("RK-REPLAY", "capability", target_restart.detail, target_restart.configure)
    bootstrap = jira.bootstrap()
    key = jira.take_key()
    body = json_or_none(bootstrap)
    lifetime = Lifetime(bootstrap, body.get("expiresAt") if isinstance(body, dict) else None)
    used = protocol.key_probe(jira, key)
    assert_success(used, "RK-REPLAY", what="GET /v1/instances/me with a fresh key", control=False)
    successor = used.headers.get(NEXT_KEY_HEADER)

    took = _restart(target_restart, "RK-REPLAY")

    _still_alive(lifetime, "RK-REPLAY", "the used request key", took)
    replay = protocol.key_probe(jira, key)
    assert_rejected(
        replay, "RK-REPLAY", what="a request key used before the restart, replayed after it"
    )
    if not successor:
        not_verified(
            "RK-REPLAY",
            "no-control",
            f"the key's use answered without {NEXT_KEY_HEADER}, so no successor could show "
            "that keys still work after the restart",
        )
    _still_alive(lifetime, "RK-REPLAY", "the used key's successor", took)
    follow = protocol.key_probe(jira, successor)
    if _refused(follow):
        not_verified(
            "RK-REPLAY",
            "no-control",
            f"the used key's successor was refused after the restart ({follow.status_code}): "
            "the target forgot its current keys too, so the replay's rejection proves nothing",
            "a target that keeps its request keys across a restart",
        )
    assert_success(follow, "RK-REPLAY", what="the used key's successor, after the restart")
    controlled("RK-REPLAY")  # the rightful caller's current key works after the restart


@pytest.mark.invariant("LC-REPLAY")
def test_used_launch_code_stays_used_across_a_restart(
    protocol: ProtocolSteps, target_restart: TargetRestart | NoRestart
) -> None:
    """A code exchanged before the restart is refused after it; the permit of its exchange
    still opens its pair."""
    if isinstance(target_restart, NoRestart):
        not_verified("LC-REPLAY", "capability", target_restart.detail, target_restart.configure)
    task = protocol.new_task()
    link = protocol.mint_launch_code(task)
    lifetime = Lifetime(link.response, link.body.get("expiresAt"))
    permit = protocol.exchanged_permit(protocol.exchange(link.code, task), task, "LC-REPLAY")
    marker = f"durable-{uuid.uuid4().hex[:12]}"
    stored = protocol.write_progress(permit, protocol.marked_progress(marker))
    assert_success(stored, "LC-REPLAY", what="a progress write with the exchanged permit")

    took = _restart(target_restart, "LC-REPLAY")

    _still_alive(lifetime, "LC-REPLAY", "the used launch code", took)
    replay = protocol.exchange(link.code, task)
    assert_rejected(
        replay,
        "LC-REPLAY",
        what="a launch code exchanged before the restart, replayed after it",
        protected=[permit.permit],
    )
    _permit_opens_after_restart(protocol, permit, marker)


def _refused(response: httpx.Response) -> bool:
    """A 4xx that is not "not now": the control failed (throttling and server errors are
    judged by assert_success instead)."""
    status = response.status_code
    return 400 <= status < 500 and not is_throttled(status, response.headers)


def _permit_opens_after_restart(
    protocol: ProtocolSteps, permit: PermitSession, marker: str
) -> None:
    """The control: the permit of the code's first exchange still reads its pair's progress."""
    read = protocol.read_progress(permit)
    if _refused(read) or (read.is_success and marker not in read.text):
        not_verified(
            "LC-REPLAY",
            "no-control",
            f"the permit of the code's first exchange no longer read its pair's progress after "
            f"the restart ({read.status_code}): the target forgot its state, so the replay's "
            "rejection proves nothing",
            "a target that keeps permits and progress across a restart",
        )
    assert_success(
        read, "LC-REPLAY", what="the exchanged permit on its own pair, after the restart"
    )
    controlled("LC-REPLAY")
