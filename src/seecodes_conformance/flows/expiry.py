"""Expiry checks that outlast the run: stored in the state file now, presented by a later run.

A credential living longer than ``--max-wait`` cannot be seen expiring within the run. With
``--state-file`` it is stored (with its pair and ``expiresAt``) and the check is reported not
verified, "pending until" the moment it is due; a later run claims the due entries and presents
each once, expecting a rejection. Without a state file the check is not verified with the hint
to keep one. The credential itself is registered for redaction the moment it is read back, and
never appears in a message: only its kind, its pair and its dates do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

import httpx

from seecodes_conformance.deferred import Deferred, StateFile, utc
from seecodes_conformance.flows._base import StepsBase
from seecodes_conformance.http import is_throttled
from seecodes_conformance.outcomes import LOG, not_verified
from seecodes_conformance.redaction import REGISTRY

__all__ = [
    "KEEP_STATE_HINT",
    "claim_due",
    "defer_expiry",
    "engine_now",
    "present_due",
    "verified_note",
]

KEEP_STATE_HINT = (
    "--state-file PATH with --base-url, kept between runs: a later run, once the credential "
    "has expired, presents it"
)


def defer_expiry(
    state: StateFile | None, entry: Deferred, *, detail: str, configure: str
) -> NoReturn:
    """Store ``entry`` for a later run (with a state file) and stop the check: not verified,
    "pending until" the entry is due; without a state file, not verified with the hint."""
    if state is None:
        not_verified(entry.invariant, "lifetime", detail, f"{configure}, or {KEEP_STATE_HINT}")
    REGISTRY.add(entry.credential, entry.kind)
    state.add(entry)
    due = utc(entry.due_at)
    LOG.note(entry.invariant, f"{entry.kind} expiry pending until {due} (state file)")
    not_verified(
        entry.invariant,
        "lifetime",
        f"{detail}; pending until {due}: a {entry.kind} minted on {entry.context_text} is kept "
        "in the state file",
        f"a later run with the same --state-file after {due} (by the target's clock)",
    )


def engine_now(http: httpx.Client) -> float:
    """The target's clock (its ``Date``), which ``expiresAt`` is measured in."""
    return StepsBase.server_time(http.get("/healthz"))


def claim_due(state: StateFile | None, kind: str, invariant: str, now: float) -> list[Deferred]:
    """The stored credentials of ``kind`` due by ``now``, taken out of the file (each is
    presented once). None due: the check stops, not verified, saying what is pending."""
    if state is None:
        not_verified(invariant, "lifetime", f"no state file: no {kind} was kept from an earlier "
                     "run to present after its expiry", KEEP_STATE_HINT)  # fmt: skip
    due = state.claim_due(kind, now)
    for entry in due:
        REGISTRY.add(entry.credential, kind)
    if due:
        return due
    waiting = state.waiting(kind, now)
    if waiting:
        first = utc(min(e.due_at for e in waiting))
        detail = f"{len(waiting)} {kind}(s) kept in the state file, the first due at {first}"
        configure = f"a run with the same --state-file after {first} (by the target's clock)"
    else:
        detail = f"the state file holds no {kind} from an earlier run"
        configure = f"a run storing one (a {kind} outliving --max-wait), then a later run"
    not_verified(invariant, "lifetime", detail, configure)


def present_due(
    state: StateFile | None,
    due: list[Deferred],
    present: Callable[[Deferred], httpx.Response],
) -> list[tuple[Deferred, httpx.Response]]:
    """Present each claimed entry once; a throttled presentation goes back to the file (not
    now: pending for the next run). Every one throttled: the check stops, not verified."""
    answers = []
    for entry in due:
        response = present(entry)
        if is_throttled(response.status_code, response.headers) and state is not None:
            state.add(entry)
            continue
        answers.append((entry, response))
    if not answers and due:
        not_verified(
            due[0].invariant,
            "throttled",
            f"every due {due[0].kind} met throttling; kept for the next run",
            "allow the harness through the rate limiter",
        )
    return answers


def verified_note(entry: Deferred) -> str:
    return (
        f"verified at production lifetime ({entry.kind} minted {utc(entry.minted_at)}, "
        f"expired {utc(entry.expires_at)}, refused in this run)"
    )
