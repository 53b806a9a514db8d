"""Model-based stateful testing: the whole engine as a state machine.

Fixed scenarios check what we thought of; this suite finds what we did not. Hypothesis drives
long, interleaved sequences of calls by two tenants and several principals, with every
credential in play (current, consumed and foreign request keys; fresh, used and mismatched launch
codes; permits for this pair, another pair and another tenant). A model records what the target
must hold, every response is compared with it, and a failing sequence shrinks to the shortest one
that breaks an invariant. Step arguments print as short labels, never as credentials; the
failure adds every step's requests (redacted), the seed and the command that replays it.

What counts as a check. A positive comparison that held (a document read back, a rotated key
accepted, a status that did not move back) is a check of its invariant. A refusal is a check
only beside its positive control: the rightful caller succeeding on the very resource the
intruder was refused (the key's own first use, the pair's own permit on that task, the sender
with a key of its own context), at any step of the same example. The test ends by printing how
many times the model checked each invariant (also attached as the ``seecodes_stateful_checks``
property); an invariant it never checked is recorded as not verified, with the reason.

Never stricter than the protocol: where it leaves a choice (which 4xx, whether a mismatched
exchange burns the code, whether body ids of another pair are refused or ignored, what reading
absent progress returns) the model accepts every legal outcome, and credentials close to expiry
are "either outcome" rather than a verdict on timing.

Throttling. A request answered 429, or 503 with Retry-After, says nothing about the protocol.
Requests that consume nothing were already sent again by the transport; when one that carries a
request key or a launch code is throttled, or the transport gave up, that step checks nothing
more: it is recorded as not verified (with the reason) and the run goes on. The model records
every state a request may leave *before* sending it ("the target may now hold either document",
"this key may be used up") and settles it from the next conclusive answer, so a throttled step
leaves it consistent; a session whose key was in flight re-bootstraps before its next call.
Every rule adds the same values to its bundles whatever the target answered, so the data that
hypothesis draws never depends on the target, and replays stay consistent.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, Phase, assume, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    multiple,
    rule,
    run_state_machine_as_test,
)

from seecodes_conformance.credentials import CredentialSource
from seecodes_conformance.flows import SAMPLE_LIST_MD, ProtocolSteps
from seecodes_conformance.flows.launch import LaunchLink
from seecodes_conformance.http import (
    BOOTSTRAP_PATH,
    NEXT_KEY_HEADER,
    HandshakeError,
    JiraAppSession,
    PermitSession,
    is_throttled,
    json_or_none,
)
from seecodes_conformance.http.evidence import TRANSCRIPT, Exchange
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.oracle import (
    assert_rejected,
    assert_success,
    checked,
    controlled,
    fail,
    leaked_values,
    throttled,
)
from seecodes_conformance.outcomes import LOG, NotVerified, Unverified
from seecodes_conformance.progress import PROGRESS
from seecodes_conformance.redaction import redact, register_credentials
from seecodes_conformance.replay import choose_seed, replay_command
from seecodes_conformance.settings import Settings

# A credential this close to its expiresAt may legally be refused; the model then accepts both.
EXPIRY_MARGIN_S = 3.0
# Non-terminal statuses may come in any order and repeat; a settled one is final.
RUN_ORDER = {"queued": 0, "in_process": 0, "processing_remote": 0, "succeeded": 1, "failed": 1}
# How long a settling step polls one run. The RUN-* suites wait a run's full --run-wait (their
# runs settle side by side); here settling is opportunistic, so a slow target does not cost
# (settle steps) x (its run time): once one step ran out of time, later ones poll only once.
SETTLE_WITHIN_S = 5.0
SLOW_TARGET: set[str] = set()  # holds "slow" once a settling step ran out of time (per process)
HEX = "0123456789abcdef"
INDEX_PATHS = ["src/a.ts", "src/b.ts"]
# The seed of derandomized profiles (smoke, ci): the same command always replays the same runs.
FIXED_SEED = 20260701
STATEFUL_SUITE = "suites/test_stateful.py"
CHECKS_PROPERTY = "seecodes_stateful_checks"
SEED_PROPERTY = "seecodes_seed:stateful"
THROTTLED_CONFIGURE = (
    "a lower --rate-limit, or an allowance for the harness in the target's rate limiter"
)
LONGER_RUN = "a longer run: --profile nightly, or another --stateful-seed"
BINDINGS = ("RK-TENANT-BINDING", "RK-SESSION-BINDING")
# What the model checks; the test's marker, and the rows of its per-invariant count.
MODEL_INVARIANTS = (
    "RK-ROTATION", "RK-REPLAY", "RK-TENANT-BINDING", "RK-SESSION-BINDING",
    "LC-EXCHANGE", "LC-REPLAY", "LC-MATCH",
    "PERMIT-BINDING-PROGRESS", "PERMIT-BINDING-PROGRESS-READ", "PERMIT-BINDING-RUN",
    "PERMIT-BINDING-INDEX", "BODY-NO-REDIRECT", "RUN-MONOTONIC", "RUN-STATUS",
    "PROGRESS-ROUNDTRIP", "INDEX-ROUNDTRIP", "TENANT-ISOLATION",
    "PERMIT-BINDING-SNAPSHOT", "SNAPSHOT-STORED", "TEAM-COMPETITION",
)  # fmt: skip
RuleFunction = TypeVar("RuleFunction", bound=Callable[..., Any])
Pair = tuple[str, str, str]  # tenant, projectId, taskId
# Drawn in place of a task: the pair the permit (or code) is bound to. Half of such draws are
# its own pair, so that every refusal has a fair chance of its control in the same example.
OWN = "own pair"


# -- what the model checked ---------------------------------------------------------------------
@dataclass
class ModelChecks:
    """Per invariant, what the model concluded over every example of one test run.

    ``checks`` counts positive comparisons that held plus refusals paired with their control;
    ``refusals`` counts every refusal that held, paired or not.
    """

    checks: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    paired: Counter[str] = field(default_factory=Counter)  # refusals counted as checks
    examples: int = 0
    steps: int = 0
    not_verified_steps: int = 0
    not_verified_samples: list[str] = field(default_factory=list)

    def as_json(self, invariants: tuple[str, ...], seed_value: int) -> dict[str, Any]:
        return {
            "seed": seed_value,
            "examples": self.examples,
            "steps": self.steps,
            "steps_not_verified": self.not_verified_steps,
            "not_verified_samples": self.not_verified_samples,
            "invariants": {
                iid: {"checked": self.checks[iid], "refusals": self.refusals[iid]}
                for iid in invariants
            },
        }

    def summary(self, invariants: tuple[str, ...], seed_value: int) -> str:
        lines = [
            f"State machine (seed {seed_value}): {self.examples} examples, {self.steps} steps, "
            f"{self.not_verified_steps} of them not verified"
        ]
        lines += [f"  (e.g. {sample})" for sample in self.not_verified_samples[:3]]
        for iid in invariants:
            count, refused = self.checks[iid], self.refusals[iid]
            if count:
                line = f"{iid} checked {count} time{'s' if count != 1 else ''}"
            else:
                line = f"{iid} NOT VERIFIED: the model never checked it"
            unpaired = refused - self.paired[iid]
            if unpaired > 0:
                line += (
                    f" (and {unpaired} refusal(s) not counted: the rightful caller did not "
                    "succeed on that resource in that example)"
                )
            lines.append(f"  {line}")
        return "\n".join(lines)

    def record_unchecked(self, invariants: tuple[str, ...]) -> None:
        """Every invariant the model never checked is not verified, with the reason."""
        for iid in invariants:
            if self.checks[iid]:
                continue
            if self.refusals[iid]:
                reason = Unverified(
                    "no-control",
                    f"the state machine saw {self.refusals[iid]} refusal(s), but in no example "
                    "did the rightful caller succeed on a resource it saw refused",
                    LONGER_RUN,
                )
            else:
                reason = Unverified(
                    "no-check",
                    f"no step of the {self.examples} state-machine examples reached a check of it",
                    LONGER_RUN,
                )
            LOG.unverified([iid], reason)


# -- the journal of a run -----------------------------------------------------------------------
@dataclass
class Step:
    """One step of a run as it happened: the rule, its arguments' labels and its requests."""

    call: str
    exchanges: list[Exchange]
    note: str = ""

    def render(self, number: int) -> list[str]:
        requests = [f"{e.method} {e.url} -> {e.status}" for e in self.exchanges]
        lines = [f"{number:>3}. {self.call}" + (f"  [{self.note}]" if self.note else "")]
        for request, repeats in itertools.groupby(requests):
            times = len(list(repeats))
            lines.append(f"       {request}" + (f" (x{times})" if times > 1 else ""))
        return lines


def journaled(*invariants: str) -> Callable[[RuleFunction], RuleFunction]:
    """Record each top-level step and the requests it made, for the reproduction.

    ``invariants``: what the step checks; a step that a throttled answer stopped is recorded as
    not verified for them, and the run goes on. Rules that add to a bundle catch that inside
    (``machine.unless_not_verified``) so that they always add the same values.
    """

    def decorate(function: RuleFunction) -> RuleFunction:
        @functools.wraps(function)
        def step(machine: Any, **arguments: Any) -> Any:
            if machine.in_step:  # a rule calling another rule: part of the outer step
                return function(machine, **arguments)
            machine.in_step, start = True, TRANSCRIPT.count
            machine.step_invariants, machine.step_note = invariants, ""
            try:
                with machine.unless_not_verified():
                    return function(machine, **arguments)
                return None
            finally:
                machine.in_step = False
                machine.checks.steps += 1
                call = ", ".join(f"{name}={value!r}" for name, value in arguments.items())
                machine.journal.append(
                    Step(f"{function.__name__}({call})", TRANSCRIPT.since(start), machine.step_note)
                )

        return step  # type: ignore[return-value]

    return decorate


# -- what the model holds -----------------------------------------------------------------------
@dataclass
class Actor:
    """A Jira-App user: tenant, principal and its request-key chain."""

    label: str
    tenant: str
    session: JiraAppSession

    def __repr__(self) -> str:
        return f"Actor({self.label})"


@dataclass
class Permit:
    """A task permit, minted on first use: examples pay only for the permits they touch,
    which keeps every example (and so every shrink attempt) cheap."""

    label: str
    tenant: str
    task: TaskRef
    mint: Callable[[], PermitSession]
    minted: PermitSession | None = None
    # An exchanged permit: its first success on its own pair completes the LC-EXCHANGE check.
    from_exchange: bool = False

    @property
    def session(self) -> PermitSession:
        if self.minted is None:
            self.minted = self.mint()
        return self.minted

    def __repr__(self) -> str:
        return f"Permit({self.label} {self.tenant}:{self.task.task_id})"


@dataclass
class Code:
    """A launch code, minted on first use (a throttled mint leaves it to the next step)."""

    label: str
    tenant: str
    task: TaskRef
    mint: Callable[[], LaunchLink]
    actor: Actor
    value: str | None = None
    expires_at: float | None = None
    # fresh | maybe-burned (a mismatched or throttled exchange) | used (exchanged) | dead
    # (refused where either outcome was legal: burnt or expired)
    state: str = "fresh"

    def minted(self) -> str:
        if self.value is None:
            link = self.mint()
            expires = link.body.get("expiresAt")
            self.expires_at = float(expires) if isinstance(expires, int | float) else None
            self.value = link.code
        return self.value

    def __repr__(self) -> str:
        return f"Code({self.label} {self.tenant}:{self.task.task_id} {self.state})"

    def near_expiry(self) -> bool:
        return self.expires_at is not None and time.time() > self.expires_at - EXPIRY_MARGIN_S


@dataclass
class RunRef:
    label: str
    tenant: str
    task: TaskRef
    permit: Permit
    run_id: str | None = None  # None: its init was refused or not verified; nothing to poll
    highest: int = -1  # highest status rank seen so far

    def __repr__(self) -> str:
        return f"Run({self.label} {self.tenant}:{self.task.task_id})"


@dataclass
class Written:
    """A progress write the model attempted (the documents are in ``progress``)."""

    label: str
    tenant: str
    task: TaskRef

    def __repr__(self) -> str:
        return f"Progress({self.label} {self.tenant}:{self.task.task_id})"


@dataclass
class Key:
    """A request key some actor sent: never valid again once its first use was accepted."""

    label: str
    owner: Actor
    value: str | None = None  # None: no key was obtained (its bootstrap was throttled)
    state: str = "unknown"  # consumed (its use was accepted) | unknown (the answer was throttled)

    def __repr__(self) -> str:
        return f"ConsumedKey({self.label} of {self.owner.label})"


def _same_pair(permit: Permit, tenant: str, task: TaskRef) -> bool:
    return permit.tenant == tenant and permit.task == task


def _pair(tenant: str, task: TaskRef) -> Pair:
    return (tenant, task.project_id, task.task_id)


def _named(task: TaskRef | str, own: TaskRef) -> TaskRef:
    """The task a step names: a drawn one, or (``OWN``) the credential's own."""
    return own if task == OWN else task  # type: ignore[return-value]


# -- judging answers without recording (the model records what they prove) ---------------------
def _accepted(response: httpx.Response, invariant: str, what: str) -> Any:
    """The oracle's success, without recording a control: the model records what a success
    proves itself (a check, or the rightful caller's success where an intruder was refused)."""
    return assert_success(response, invariant, what=what, control=False)


def _accepted_or_refused(response: httpx.Response, invariant: str, what: str) -> bool:
    """Where the protocol allows either outcome: a success, or a clean refusal (a 4xx that
    leaks nothing). Neither checks anything. True if it was accepted."""
    if response.is_success:
        _accepted(response, invariant, what)
        return True
    if is_throttled(response.status_code, response.headers):
        throttled(response, invariant, what)
    if not 400 <= response.status_code < 500:
        fail(invariant, f"{what} may succeed or be refused (4xx), got {response.status_code}",
             [response])  # fmt: skip
    leaks = leaked_values(response)
    if leaks:
        fail(invariant, f"the refusal of {what} leaks {', '.join(leaks)}", [response])
    return False


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _holds(stored: Any, expected: dict[str, Any]) -> bool:
    """The stored document carries every field written, unchanged (extra fields are allowed)."""
    return isinstance(stored, dict) and all(stored.get(k) == v for k, v in expected.items())


STATE_MACHINE = "the state machine"  # its progress lines


def build_machine(protocol: ProtocolSteps, forge: CredentialSource) -> type[RuleBasedStateMachine]:
    """The machine class, closed over this session's target and credentials."""
    labels = itertools.count(1)
    multi_principal = forge.principals_per_tenant is None
    model_checks = ModelChecks()
    most = protocol.settings.profile.stateful_examples

    class EngineMachine(RuleBasedStateMachine):
        actors = Bundle("actors")
        tasks = Bundle("tasks")
        permits = Bundle("permits")
        codes = Bundle("codes")
        runs = Bundle("runs")
        consumed_keys = Bundle("consumed_keys")
        written_progress = Bundle("written_progress")

        # The last run; after a failure, the one hypothesis reports (shrunk unless disabled).
        latest: ClassVar[EngineMachine | None] = None
        checks: ClassVar[ModelChecks] = model_checks

        def __init__(self) -> None:
            super().__init__()
            type(self).latest = self
            self.checks.examples += 1
            examples = self.checks.examples
            PROGRESS.tick(
                STATE_MACHINE,
                lambda so_far: (
                    f"seecodes: state machine running ({so_far:.0f} s so far): "
                    f"example {examples}, {self.checks.steps} steps (the profile asks for "
                    f"{most} examples; hypothesis may run more)"
                ),
            )
            self.journal: list[Step] = []
            self.in_step = False
            self.step_invariants: tuple[str, ...] = ()
            self.step_note = ""
            self.example = next(labels)
            # Progress per pair: every document the target may hold now (None: none written).
            # One after a conclusive answer; more while a write's outcome is unknown.
            self.progress: dict[Pair, list[dict[str, Any] | None]] = {}
            self.index: dict[tuple[str, str], dict[str, str]] = {}
            self.index_unsure: dict[tuple[str, str, str], str] = {}  # upserts not confirmed
            # Per invariant: resources the rightful caller succeeded on, and refusals on
            # resources still waiting for that control (counted once it comes).
            self.rightful: defaultdict[str, set[Hashable]] = defaultdict(set)
            self.awaiting: defaultdict[str, Counter[Hashable]] = defaultdict(Counter)
            # The retrospective board: writes per pair that may legally change what the
            # board shows for it (snapshots; runs, progress, index writes and IDE launches as
            # fallback sources), counted before they are sent, and how many board items each
            # viewer saw filed under each pair when it last read.
            self.board_writes: Counter[Pair] = Counter()
            self.board_seen: dict[tuple[str, str, str], tuple[int, int]] = {}
            self.writes = itertools.count(1)
            # Two tasks of one project and one of another, so every binding can be crossed;
            # actors in both tenants; permits across tenants, tasks and projects from step one.
            first = protocol.new_task()
            self.initial_tasks = [
                first,
                protocol.new_task(first.project_id, 2),
                protocol.new_task(),
            ]
            principals = [("a", "p1"), ("b", "p1")] + ([("a", "p2")] if multi_principal else [])
            self.initial_actors = [
                Actor(f"{tenant}/{name}", tenant,
                      protocol.jira(self._tenant(tenant), self._principal(name)))
                for tenant, name in principals
            ]  # fmt: skip
            a1, b1 = self.initial_actors[0], self.initial_actors[1]
            t0, t1, t2 = self.initial_tasks
            self.initial_permits = [
                self._permit(a1, t0), self._permit(a1, t1), self._permit(a1, t2),
                self._permit(b1, t0),
            ]  # fmt: skip

        def reproduction(self) -> str:
            steps = [line for n, step in enumerate(self.journal, 1) for line in step.render(n)]
            return redact("\n".join(steps))

        def _tenant(self, name: str) -> str:
            """Fresh installations per example where the source can make them: every example
            starts from a full credit balance and shares nothing with other tests."""
            return f"sm-{protocol.ids.base}-{self.example}{name}" if multi_principal else name

        def _principal(self, name: str) -> str:
            return f"sm{self.example}-{name}" if multi_principal else "p1"

        def _permit(self, actor: Actor, task: TaskRef) -> Permit:
            def mint() -> PermitSession:
                self._wrote(actor.tenant, task)  # IDE launches may feed the board as fallback
                return protocol.mint_permit(task, actor.session)

            return Permit(f"p{next(self.writes)}", actor.tenant, task, mint)

        # -- what the model concluded ---------------------------------------------------------
        def _check(self, *invariants: str) -> None:
            """A positive comparison of each invariant ran to its end and held."""
            checked(*invariants)
            self.checks.checks.update(invariants)

        def _refused(self, invariant: str, resource: Hashable) -> None:
            """An intruder was refused ``resource`` (the rejection already held): a check once
            the rightful caller is shown to succeed on the same resource, in this example."""
            self.checks.refusals[invariant] += 1
            if resource in self.rightful[invariant]:
                self._paired_with_control(invariant, 1)
            else:
                self.awaiting[invariant][resource] += 1

        def _rightful(self, invariant: str, resource: Hashable) -> None:
            """The rightful caller succeeded on ``resource``: the control of its refusals."""
            self.rightful[invariant].add(resource)
            waiting = self.awaiting[invariant].pop(resource, 0)
            if waiting:
                self._paired_with_control(invariant, waiting)

        def _paired_with_control(self, invariant: str, refusals: int) -> None:
            controlled(invariant)
            self.checks.checks[invariant] += refusals
            self.checks.paired[invariant] += refusals

        def _permit_worked(self, permit: Permit) -> None:
            """The permit succeeded on its own pair: an exchanged one is the task-scoped bearer
            permit the exchange promised (LC-EXCHANGE)."""
            if permit.from_exchange:
                permit.from_exchange = False
                self._check("LC-EXCHANGE")

        # -- steps that cannot conclude ---------------------------------------------------------
        @contextlib.contextmanager
        def unless_not_verified(self) -> Iterator[None]:
            """A request of this step was throttled (or could not conclude otherwise): the step
            checks nothing more, is recorded as not verified, and the run goes on."""
            try:
                yield
            except NotVerified as stopped:  # the oracle recorded the reason
                self._step_not_verified(str(stopped))
            except HandshakeError:
                last = TRANSCRIPT.last(1)
                if not last or not self._throttled_bootstrap(last[0]):
                    raise
                detail = f"a request-key bootstrap was answered {last[0].status}"
                reason = Unverified("throttled", detail, THROTTLED_CONFIGURE)
                LOG.unverified(self.step_invariants, reason)
                self._step_not_verified(str(reason))

        @staticmethod
        def _throttled_bootstrap(exchange: Exchange) -> bool:
            headers = httpx.Headers(list(exchange.response_headers))
            return exchange.url.endswith(BOOTSTRAP_PATH) and is_throttled(exchange.status, headers)

        def _step_not_verified(self, detail: str) -> None:
            self.checks.not_verified_steps += 1
            if len(self.checks.not_verified_samples) < 5:
                self.checks.not_verified_samples.append(redact(detail))
            self.step_note = f"not verified: {redact(detail)}"

        # -- setup --------------------------------------------------------------------------
        @initialize(target=actors)
        def actors_of_both_tenants(self) -> Any:
            return multiple(*self.initial_actors)

        @initialize(target=tasks)
        def tasks_in_two_projects(self) -> Any:
            return multiple(*self.initial_tasks)

        @initialize(target=permits)
        def permits_across_pairs_and_tenants(self) -> Any:
            return multiple(*self.initial_permits)

        # -- request keys -------------------------------------------------------------------
        @rule(target=consumed_keys, actor=actors, replay_at_once=st.booleans())
        @journaled("RK-ROTATION", "RK-REPLAY")
        def use_current_key(self, actor: Actor, replay_at_once: bool) -> Key:
            """A fresh key works once, the success hands out the next one, and that one works
            in turn (RK-ROTATION)."""
            used = Key(f"k{next(self.writes)}", actor)
            with self.unless_not_verified():
                self._own_call(actor, used)
                if replay_at_once:
                    self.replay_consumed_key(key=used)
            return used

        def _own_call(self, actor: Actor, used: Key | None = None) -> None:
            """GET /v1/instances/me with the actor's current key: accepted, with a next key."""
            # A key the session holds was handed out by a success (a bootstrapped one is taken
            # at once), by this rule or any other call of the actor's: a rotated key.
            held = actor.session.current_key
            key = actor.session.take_key()  # bootstraps when it holds none, or it is expiring
            rotated = held is not None and key == held
            if used is not None:
                used.value = key  # its state stays unknown until the answer says
            response = actor.session.send_with_key(key, "GET", "/v1/instances/me")
            what = f"a call with {actor.label}'s {'rotated' if rotated else 'bootstrapped'} key"
            _accepted(response, "RK-ROTATION" if rotated else "RK-BOOTSTRAP", what)
            next_key = response.headers.get(NEXT_KEY_HEADER)
            if not next_key:
                fail("RK-ROTATION", "a successful call carried no next request key", [response])
            actor.session.adopt_next_key(response)
            if rotated:  # the key a previous success handed out was accepted in turn
                self._check("RK-ROTATION")
            for invariant in BINDINGS:  # a key of its own context works for this sender
                self._rightful(invariant, actor.label)
            if used is not None:
                used.state = "consumed"
                self._rightful("RK-REPLAY", used.label)  # the key's own first use

        @rule(key=consumed_keys)
        @journaled("RK-REPLAY")
        def replay_consumed_key(self, key: Key) -> None:
            """A consumed key is refused (RK-REPLAY); its first use was the control."""
            if key.value is None:
                self.step_note = "no key: its bootstrap was not verified"
                return
            owner = key.owner
            try:
                response = owner.session.send_with_key(key.value, "GET", "/v1/instances/me")
                if key.state == "consumed":
                    assert_rejected(response, "RK-REPLAY", what=f"a replay of {key!r}")
                    self._refused("RK-REPLAY", key.label)
                else:  # its first use was throttled: the target may never have seen it
                    _accepted_or_refused(response, "RK-REPLAY", f"a second use of {key!r}")
                    key.state = "consumed"
            finally:
                self._drop_key(owner)  # a refusal may or may not burn the chain's current key

        @rule(holder=actors, sender=actors)
        @journaled(*BINDINGS)
        def foreign_key(self, holder: Actor, sender: Actor) -> None:
            """A key works only in its own tenant/session context (RK-*-BINDING); the sender,
            with a key of its own context, succeeds on the same route."""
            assume(holder is not sender)  # before any request: an invalid example costs nothing
            invariant = (
                "RK-TENANT-BINDING" if holder.tenant != sender.tenant else "RK-SESSION-BINDING"
            )
            key = holder.session.take_key()  # the holder bootstraps again before its next call
            try:
                response = sender.session.send_with_key(key, "GET", "/v1/instances/me")
                assert_rejected(
                    response, invariant, what=f"{holder.label}'s key sent by {sender.label}"
                )
                self._refused(invariant, sender.label)
            finally:
                self._drop_key(sender)  # as a client does after a rejection: bootstrap again
            self._own_call(sender)

        def _drop_key(self, actor: Actor) -> None:
            """Forget the actor's current key: its next call bootstraps a fresh one."""
            if actor.session.current_key is not None:
                actor.session.take_key()

        # -- permits and launch codes -------------------------------------------------------
        @rule(target=permits, actor=actors, task=tasks)
        @journaled("PERMIT-MINT")
        def mint_permit(self, actor: Actor, task: TaskRef) -> Permit:
            permit = self._permit(actor, task)
            with self.unless_not_verified():
                _ = permit.session  # minted in the step that names it (or on its first use)
            return permit

        @rule(target=codes, actor=actors, task=tasks)
        @journaled("LC-MINT")
        def mint_code(self, actor: Actor, task: TaskRef) -> Code:
            def mint() -> LaunchLink:
                self._wrote(actor.tenant, task)  # IDE launches may feed the board as fallback
                return protocol.mint_launch_code(task, actor.session)

            code = Code(f"c{next(self.writes)}", actor.tenant, task, mint, actor)
            with self.unless_not_verified():
                code.minted()  # minted in the step that names it (or on its first exchange)
            return code

        @rule(target=permits, code=codes, task=st.just(OWN) | tasks)
        @journaled("LC-EXCHANGE", "LC-REPLAY", "LC-MATCH")
        def exchange(self, code: Code, task: TaskRef | str) -> Permit:
            """Exactly one successful exchange per code, and only for its own pair. Adds the
            exchanged permit, or else one the code's user mints for that pair on first use."""
            with self.unless_not_verified():
                exchanged = self._exchange(code, _named(task, code.task))
                if exchanged is not None:
                    return exchanged
            return self._permit(code.actor, code.task)

        def _exchange(self, code: Code, task: TaskRef) -> Permit | None:
            value = code.minted()
            before, what = code.state, f"exchange of {code!r} for {task.task_id}"
            if before == "fresh":
                code.state = "maybe-burned"  # until the answer says: a throttled one may burn it
            response = protocol.exchange(value, task)
            if before == "used":  # for its own pair or not, a replay
                assert_rejected(response, "LC-REPLAY", what=f"a replay: {what}")
                self._refused("LC-REPLAY", code.label)
                return None
            if task != code.task:
                assert_rejected(response, "LC-MATCH", what=f"a mismatched {what}")
                if before == "fresh":  # a burnt code's refusal would say nothing of matching
                    self._refused("LC-MATCH", code.label)
                return None  # a fresh code stays maybe-burned: burning it is the target's choice
            either = before != "fresh" or code.near_expiry()  # burnt or expiring: may be refused
            if either and not _accepted_or_refused(response, "LC-EXCHANGE", what):
                code.state = "dead"
                return None
            body = _accepted(response, "LC-EXCHANGE", what)
            permit = body.get("permit") if isinstance(body, dict) else None
            if not isinstance(permit, str) or not permit:
                fail("LC-EXCHANGE", "launch-exchange answered 2xx without a permit", [response])
            code.state = "used"
            for invariant in ("LC-MATCH", "LC-REPLAY"):  # the code's own exchange succeeded
                self._rightful(invariant, code.label)
            session = PermitSession(protocol.http, permit, task, expires_at=body.get("expiresAt"))
            return Permit(f"p{next(self.writes)}", code.tenant, task, lambda: session, session,
                          from_exchange=True)  # fmt: skip

        # -- progress -----------------------------------------------------------------------
        @rule(target=written_progress, permit=permits, task=st.just(OWN) | tasks)
        @journaled("PERMIT-BINDING-PROGRESS", "PROGRESS-ROUNDTRIP")
        def write_progress(self, permit: Permit, task: TaskRef | str) -> Written:
            task = _named(task, permit.task)
            own = task.task_id == permit.task.task_id
            written = Written(f"w{next(self.writes)}", permit.tenant, permit.task if own else task)
            with self.unless_not_verified():
                self._write_progress(permit, task, own)
            return written

        def _write_progress(self, permit: Permit, task: TaskRef, own: bool) -> None:
            doc = {"ready": [f"write-{next(self.writes)}"], "left": [], "progress": "50%",
                   "confidence": "Medium", "risks": [], "logs": []}  # fmt: skip
            session = permit.session
            pair = (permit.tenant, permit.task.project_id, task.task_id)
            if own:  # until the answer says, the target may hold either document
                self.progress[pair] = [*self.progress.get(pair, [None]), doc]
                self._wrote(permit.tenant, permit.task)
            response = protocol.write_progress(session, doc, task_id=task.task_id)
            if not own:
                assert_rejected(
                    response,
                    "PERMIT-BINDING-PROGRESS",
                    what=f"{permit!r} writing progress of {task.task_id}",
                )
                self._refused("PERMIT-BINDING-PROGRESS", _pair(permit.tenant, task))
                return
            _accepted(response, "PROGRESS-ROUNDTRIP", f"progress write by {permit!r}")
            self.progress[pair] = [doc]
            self._rightful("PERMIT-BINDING-PROGRESS", _pair(permit.tenant, permit.task))
            self._permit_worked(permit)

        @rule(permit=permits, written=written_progress)
        @journaled("PERMIT-BINDING-PROGRESS-READ", "PROGRESS-ROUNDTRIP", "TENANT-ISOLATION")
        def read_written_progress(self, permit: Permit, written: Written) -> None:
            """Progress someone wrote, read with any permit: only its own pair's permit sees it."""
            self.read_progress(permit=permit, task=written.task)

        @rule(permit=permits, task=st.just(OWN) | tasks)
        @journaled("PERMIT-BINDING-PROGRESS-READ", "PROGRESS-ROUNDTRIP", "TENANT-ISOLATION")
        def read_progress(self, permit: Permit, task: TaskRef | str) -> None:
            task = _named(task, permit.task)
            response = protocol.read_progress(permit.session, task.project_id, task.task_id)
            if task != permit.task:
                assert_rejected(
                    response,
                    "PERMIT-BINDING-PROGRESS-READ",
                    what=f"{permit!r} reading progress of {task.task_id}",
                    protected=self._progress_markers(task),
                )
                self._refused("PERMIT-BINDING-PROGRESS-READ", _pair(permit.tenant, task))
                return
            pair = _pair(permit.tenant, task)
            candidates = self.progress.get(pair, [None])
            what = f"{permit!r} reading its progress"
            if None in candidates:
                # Maybe nothing written for this pair here: what reading absent progress
                # returns (a 404, an empty document) is the target's choice; never a 5xx.
                if is_throttled(response.status_code, response.headers):
                    throttled(response, "PROGRESS-ROUNDTRIP", what)
                if response.status_code >= 500:
                    fail("NO-SERVER-ERROR", "reading absent progress failed", [response])
                body = json_or_none(response) if response.is_success else None
            else:
                body = _accepted(response, "PROGRESS-ROUNDTRIP", what)
            if response.is_success:
                self._rightful("PERMIT-BINDING-PROGRESS-READ", pair)
                self._permit_worked(permit)
            foreign = self._progress_markers(task, besides=permit.tenant)
            leaked = foreign & set(_strings(json_or_none(response)))
            if leaked:
                fail("TENANT-ISOLATION", f"{permit!r} read progress another tenant wrote for "
                     "the same ids", [response])  # fmt: skip
            stored = body.get("progress") if isinstance(body, dict) else None
            match = next((d for d in candidates if d is not None and _holds(stored, d)), None)
            if match is not None:
                self.progress[pair] = [match]
                self._check("PROGRESS-ROUNDTRIP")
            elif None in candidates:
                self.progress[pair] = [None]  # the write that may have landed did not
            else:
                fail(
                    "PROGRESS-ROUNDTRIP",
                    "the progress read back differs from the last write",
                    [response],
                )
            if self._progress_markers(task, besides=permit.tenant, confirmed=True):
                self._check("TENANT-ISOLATION")  # another tenant's document for these ids: unseen

        def _progress_markers(
            self, task: TaskRef, besides: str | None = None, *, confirmed: bool = False
        ) -> set[str]:
            """Markers of the progress documents written for these ids, in any tenant (or in
            every tenant but ``besides``): every one the target may hold, or (``confirmed``)
            only those it is known to hold."""
            return {marker for (tenant, p, t), docs in self.progress.items()
                    if t == task.task_id and p == task.project_id and tenant != besides
                    and not (confirmed and len(docs) > 1)
                    for doc in docs if doc is not None for marker in doc["ready"]}  # fmt: skip

        # -- activity snapshots and the retrospective board -----------------------------------
        @rule(permit=permits, body_task=st.just(OWN) | tasks)
        @journaled("PERMIT-BINDING-SNAPSHOT", "SNAPSHOT-STORED", "TEAM-COMPETITION")
        def send_snapshot(self, permit: Permit, body_task: TaskRef | str) -> None:
            """A snapshot is filed under the permit's pair; body ids of another pair are
            rejected or ignored, never obeyed (PERMIT-BINDING-SNAPSHOT)."""
            body_task = _named(body_task, permit.task)
            crossing = body_task != permit.task
            ids = {"projectId": body_task.project_id, "taskId": body_task.task_id}
            doc = protocol.snapshot_now(**(ids if crossing else {}))
            session = permit.session
            own = _pair(permit.tenant, permit.task)
            self.board_writes[own] += 1  # until the answer says: it may be filed
            response = protocol.write_snapshot(session, doc)
            if crossing and not response.is_success:
                assert_rejected(response, "PERMIT-BINDING-SNAPSHOT", what=f"{permit!r} filing "
                                f"a snapshot under {body_task.task_id}")  # fmt: skip
                self.board_writes[own] -= 1  # refused: nothing was filed
                self._refused("PERMIT-BINDING-SNAPSHOT", _pair(permit.tenant, body_task))
            else:
                body = _accepted(response, "SNAPSHOT-STORED", f"a snapshot sent by {permit!r}")
                if not isinstance(body, dict) or body.get("stored") is not True:
                    fail("SNAPSHOT-STORED", "the snapshot answer lacks stored: true", [response])
                self._check("SNAPSHOT-STORED")
                if not crossing:
                    self._rightful("PERMIT-BINDING-SNAPSHOT", own)
                self._permit_worked(permit)
            if crossing:  # read back the board of the pair the body named
                reader = next(a for a in self.initial_actors if a.tenant == permit.tenant)
                conclusive = self._read_board(reader, body_task)
                if conclusive and response.is_success:  # body ids ignored, not obeyed
                    self._check("PERMIT-BINDING-SNAPSHOT")

        @rule(actor=actors, task=tasks)
        @journaled("TEAM-COMPETITION", "PERMIT-BINDING-SNAPSHOT")
        def read_board(self, actor: Actor, task: TaskRef) -> None:
            self._read_board(actor, task)

        def _read_board(self, actor: Actor, task: TaskRef) -> bool:
            """What the board files under a pair changes only after a write to that pair.
            True if the comparison was conclusive (no write to the pair since the last read)."""
            response = protocol.team_competition(actor.session, project_id=task.project_id)
            body = _accepted(response, "TEAM-COMPETITION",
                             f"{actor.label} reading the board of {task.project_id}")  # fmt: skip
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                fail("TEAM-COMPETITION", "team-competition answered without an items list",
                     [response])  # fmt: skip
            # Counted, not compared: items may carry fields computed at read time, and a board
            # may aggregate; an item appearing under a pair nobody wrote to is a leak either way.
            filed = sum(
                1 for item in items if isinstance(item, dict) and item.get("taskId") == task.task_id
            )
            pair = _pair(actor.tenant, task)
            # Per viewer: whether a board is the team's or each user's is the target's choice.
            viewed = (actor.label, task.project_id, task.task_id)
            seen, writes_then = self.board_seen.get(viewed, (0, 0))  # fresh ids: empty at first
            conclusive = self.board_writes[pair] == writes_then
            if filed != seen and conclusive:
                fail("PERMIT-BINDING-SNAPSHOT", f"the board of {actor.tenant}:{task.task_id} "
                     "changed although nothing was accepted for that pair", [response])  # fmt: skip
            self.board_seen[viewed] = (filed, self.board_writes[pair])
            self._check("TEAM-COMPETITION")  # its items list, scoped to what this tenant wrote
            return conclusive

        def _wrote(self, tenant: str, task: TaskRef) -> None:
            self.board_writes[_pair(tenant, task)] += 1

        # -- runs ---------------------------------------------------------------------------
        @rule(target=runs, permit=permits, body_task=st.just(OWN) | tasks, watcher=permits,
              settle=st.booleans())  # fmt: skip
        @journaled("BODY-NO-REDIRECT", "PERMIT-BINDING-RUN", "RUN-STATUS", "RUN-MONOTONIC")
        def start_new_run(
            self, permit: Permit, body_task: TaskRef | str, watcher: Permit, settle: bool
        ) -> RunRef:
            """Init (with ids in the body), upload, start: the run is the permit's pair's, and
            the watcher sees it exactly when it holds the same pair. Settling (polling the whole
            lifecycle) is a choice, as it costs the target's full run time."""
            run = RunRef(f"r{next(self.writes)}", permit.tenant, permit.task, permit)
            with self.unless_not_verified():
                self._start_run(run, _named(body_task, permit.task), watcher, settle)
            return run

        def _start_run(
            self, run: RunRef, body_task: TaskRef, watcher: Permit, settle: bool
        ) -> None:
            permit = run.permit
            crossing = body_task != permit.task
            body: dict[str, Any] = {"model": "strict light", "files": ["list.md"]}
            body.update(projectId=body_task.project_id, taskId=body_task.task_id)
            session = permit.session
            own = _pair(permit.tenant, permit.task)
            self.board_writes[own] += 1  # until the answer says: a run may feed the board
            response = session.post("/v1/tasks/init", json=body)
            if crossing and not response.is_success:
                assert_rejected(response, "BODY-NO-REDIRECT", what="init with foreign body ids")
                self.board_writes[own] -= 1  # refused: no run
                self._refused("BODY-NO-REDIRECT", own)
                return
            data = _accepted(response, "RUN-INIT", f"init by {permit!r}")
            run_id = data.get("runId") if isinstance(data, dict) else None
            uploads = data.get("uploads") if isinstance(data, dict) else None
            if not isinstance(run_id, str) or not isinstance(uploads, dict):
                fail("RUN-INIT", "init answered 2xx without runId and uploads", [response])
            register_credentials(data)
            run.run_id = run_id
            self._rightful("BODY-NO-REDIRECT", own)  # this pair's permit made a run
            self._permit_worked(permit)
            for name, url in uploads.items():
                uploaded = protocol.upload(str(url), SAMPLE_LIST_MD)
                if is_throttled(uploaded.status_code, uploaded.headers):
                    throttled(uploaded, "RUN-INIT", f"the presigned upload of {name}")
                if not uploaded.is_success:
                    fail("RUN-INIT", f"presigned upload of {name} answered "
                         f"{uploaded.status_code}", [uploaded])  # fmt: skip
            started = protocol.start_run(session, run_id)
            if (
                crossing
                and started.status_code < 500
                and not (started.is_success or is_throttled(started.status_code, started.headers))
            ):
                fail("BODY-NO-REDIRECT", "a run made with this permit cannot be started with it "
                     "(did the body ids redirect it?)", [response, started])  # fmt: skip
            _accepted(started, "RUN-START", f"{permit!r} starting {run!r}")
            self._poll(permit, run)
            if crossing:  # the run answers to the permit that made it, whatever its body named
                self._check("BODY-NO-REDIRECT")
            if settle:
                self._settle(run)
            if watcher is not permit:
                self._poll(watcher, run)

        def _settle(self, run: RunRef) -> None:
            """Poll until the run settles, then once more: no status may move back."""
            within = 0.0 if SLOW_TARGET else SETTLE_WITHIN_S
            deadline, pause = time.monotonic() + within, 0.02
            while run.highest < RUN_ORDER["succeeded"]:
                if time.monotonic() > deadline:
                    SLOW_TARGET.add("slow")
                    LOG.unverified(["RUN-MONOTONIC"], Unverified(
                        "timeout", f"a run did not settle within {SETTLE_WITHIN_S:.0f} s (once "
                        "one did not, later settling steps poll once), so the state machine saw "
                        "only part of its lifecycle; the runs suite waits the full --run-wait",
                        "the target's run duration (the bundled engine: --run-step)"))  # fmt: skip
                    self.step_note = "not settled in time"
                    return
                self._poll(run.permit, run)
                time.sleep(pause)  # polite to a run that takes minutes: up to 1 s apart
                pause = min(pause * 1.5, 1.0)
            self._poll(run.permit, run)

        @rule(permit=permits, run=runs)
        @journaled("PERMIT-BINDING-RUN", "RUN-STATUS", "RUN-MONOTONIC")
        def poll_run(self, permit: Permit, run: RunRef) -> None:
            if run.run_id is None:
                self.step_note = "no run: its init was refused or not verified"
                return
            self._poll(permit, run)

        def _poll(self, permit: Permit, run: RunRef) -> None:
            response = permit.session.get(f"/v1/tasks/{run.run_id}")
            if not _same_pair(permit, run.tenant, run.task):
                assert_rejected(response, "PERMIT-BINDING-RUN", what=f"{permit!r} polling {run!r}")
                self._refused("PERMIT-BINDING-RUN", run.label)
                return
            data = _accepted(response, "RUN-STATUS", f"{permit!r} polling {run!r}")
            status = (data.get("status") or {}).get("status") if isinstance(data, dict) else None
            if status not in RUN_ORDER:
                fail("RUN-STATUS", f"undocumented run status {status!r}", [response])
            self._check("RUN-STATUS")
            self._rightful("PERMIT-BINDING-RUN", run.label)
            self._permit_worked(permit)
            rank = RUN_ORDER[str(status)]
            if rank < run.highest:
                fail("RUN-MONOTONIC", f"{run!r} moved back to {status!r}", [response])
            compared, run.highest = run.highest >= 0, max(run.highest, rank)
            if compared:
                self._check("RUN-MONOTONIC")

        # -- project indexes ----------------------------------------------------------------
        @rule(permit=permits, task=st.just(OWN) | tasks, path=st.sampled_from(INDEX_PATHS),
              digit=st.sampled_from(HEX))  # fmt: skip
        @journaled("PERMIT-BINDING-INDEX", "INDEX-ROUNDTRIP")
        def upsert_index(self, permit: Permit, task: TaskRef | str, path: str, digit: str) -> None:
            project = _named(task, permit.task).project_id
            own = permit.task.project_id == project
            digest = digit * 64
            entry = {"hash": digest, "updatedAt": 1710000000000, "short": "s",
                     "detailed": "d", "important_symbols": []}  # fmt: skip
            session = permit.session
            if own:  # until the answer says, the entry may or may not be stored
                self.index_unsure[(permit.tenant, project, path)] = digest
                for other in self.initial_tasks:  # an index is per project: any of its pairs
                    if other.project_id == project:
                        self._wrote(permit.tenant, other)
            response = session.post(
                f"/v1/projects/{project}/indexes/upsert",
                json={"entries": {path: entry}, "deletePaths": []},
            )
            if not own:
                assert_rejected(
                    response,
                    "PERMIT-BINDING-INDEX",
                    what=f"{permit!r} writing the index of {project}",
                )
                self._refused("PERMIT-BINDING-INDEX", (permit.tenant, project))
                return
            _accepted(response, "INDEX-ROUNDTRIP", f"{permit!r} upserting {path}")
            self.index.setdefault((permit.tenant, project), {})[path] = digest
            del self.index_unsure[(permit.tenant, project, path)]
            self._rightful("PERMIT-BINDING-INDEX", (permit.tenant, project))
            self._permit_worked(permit)

        @rule(permit=permits, task=st.just(OWN) | tasks, path=st.sampled_from(INDEX_PATHS))
        @journaled("PERMIT-BINDING-INDEX", "INDEX-ROUNDTRIP", "TENANT-ISOLATION")
        def query_index(self, permit: Permit, task: TaskRef | str, path: str) -> None:
            project = _named(task, permit.task).project_id
            stored = self.index.setdefault((permit.tenant, project), {})
            probe_hash = stored.get(path, "f" * 63 + "e")
            response = permit.session.post(
                f"/v1/projects/{project}/indexes/query",
                json={"items": [{"path": path, "hash": probe_hash}]},
            )
            if permit.task.project_id != project:
                assert_rejected(
                    response,
                    "PERMIT-BINDING-INDEX",
                    what=f"{permit!r} querying the index of {project}",
                )
                self._refused("PERMIT-BINDING-INDEX", (permit.tenant, project))
                return
            data = _accepted(response, "INDEX-ROUNDTRIP", f"{permit!r} querying {path}")
            self._rightful("PERMIT-BINDING-INDEX", (permit.tenant, project))
            self._permit_worked(permit)
            match = (data.get("matches") or {}).get(path) if isinstance(data, dict) else None
            path_matched = isinstance(match, dict) and match.get("pathMatched") is True
            unsure = self.index_unsure.pop((permit.tenant, project, path), None)
            elsewhere = any(path in entries for (tenant, p), entries in self.index.items()
                            if p == project and tenant != permit.tenant)  # fmt: skip
            where = f"{permit.tenant}:{project}"
            if unsure is not None:  # an upsert of it was not verified: the answer settles it
                if path_matched:
                    stored[path] = unsure
                else:
                    stored.pop(path, None)
            elif path_matched != (path in stored):
                if path in stored:
                    fail("INDEX-ROUNDTRIP", f"the index of {where} lost {path}", [response])
                fail("TENANT-ISOLATION" if elsewhere else "INDEX-ROUNDTRIP",
                     f"the index of {where} gained {path}, which nobody upserted there"
                     + (" (another tenant did, for the same project id)" if elsewhere else ""),
                     [response])  # fmt: skip
            elif path in stored:
                self._check("INDEX-ROUNDTRIP")
            elif elsewhere:  # another tenant stored it under the same project id; not shown here
                self._check("TENANT-ISOLATION")

    return EngineMachine


@pytest.mark.invariant(*MODEL_INVARIANTS)
def test_engine_behaves_like_its_model(
    protocol: ProtocolSteps,
    forge: CredentialSource,
    seecodes_settings: Settings,
    record_property: Callable[[str, object], None],
) -> None:
    profile = seecodes_settings.profile
    run_seed = choose_seed(
        seecodes_settings.stateful_seed,
        seecodes_settings.profile,
        protocol.ids.run_prefix,
        derandomized=FIXED_SEED,
    )
    record_property(SEED_PROPERTY, run_seed)
    machine = build_machine(protocol, forge)
    model_checks: ModelChecks = machine.checks  # type: ignore[attr-defined]
    try:
        run_state_machine_as_test(
            seed(run_seed)(machine),
            settings=settings(
                max_examples=profile.stateful_examples,
                stateful_step_count=profile.stateful_steps,
                deadline=None,
                database=None,
                print_blob=True,
                # No explain phase: it traces every run once one failed, which makes shrinking a
                # network-bound machine crawl into hypothesis' five-minute limit.
                phases=[p for p in Phase if p is not Phase.explain
                        and (seecodes_settings.stateful_shrink or p is not Phase.shrink)],
                suppress_health_check=list(HealthCheck),
            ),
        )  # fmt: skip
    except Exception as failure:
        last = machine.latest  # type: ignore[attr-defined]
        steps = last.reproduction() if last is not None else "(no run recorded)"
        failure.add_note(
            f"Reproduction (seed {run_seed}): the failing run's steps and their requests, "
            f"secrets redacted:\n{steps}\nReplay: "
            + replay_command(seecodes_settings, STATEFUL_SUITE, {"--stateful-seed": run_seed})
        )
        failure.add_note(model_checks.summary(MODEL_INVARIANTS, run_seed))
        raise
    else:
        model_checks.record_unchecked(MODEL_INVARIANTS)
    finally:
        PROGRESS.done(STATE_MACHINE)
        record_property(
            CHECKS_PROPERTY, json.dumps(model_checks.as_json(MODEL_INVARIANTS, run_seed))
        )
    print(model_checks.summary(MODEL_INVARIANTS, run_seed))
