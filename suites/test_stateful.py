"""Model-based stateful testing: the whole engine as a state machine.

Fixed scenarios check what we thought of; this suite finds what we did not. Hypothesis drives
long, interleaved sequences of calls by two tenants and several principals, with every
credential in play (current, consumed and foreign request keys; fresh, used and mismatched launch
codes; permits for this pair, another pair and another tenant). A model records what the target
must hold, every response is compared with it, and a failing sequence shrinks to the shortest one
that breaks an invariant. Step arguments print as short labels, never as credentials; the
failure adds every step's requests (redacted), the seed and the command that replays it.

Never stricter than the protocol: where it leaves a choice (which 4xx, whether a mismatched
exchange burns the code, what reading absent progress returns) the model accepts every legal
outcome, and credentials close to expiry are "either outcome" rather than a verdict on timing.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

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
from seecodes_conformance.http import JiraAppSession, PermitSession, json_or_none
from seecodes_conformance.http.evidence import TRANSCRIPT, Exchange
from seecodes_conformance.ids import TaskRef
from seecodes_conformance.oracle import assert_rejected, assert_success, fail
from seecodes_conformance.redaction import redact, register_credentials
from seecodes_conformance.replay import choose_seed, replay_command
from seecodes_conformance.settings import Settings

# A credential this close to its expiresAt may legally be refused; the model then accepts both.
EXPIRY_MARGIN_S = 3.0
RUN_ORDER = {"queued": 0, "in_process": 1, "processing_remote": 2, "succeeded": 3, "failed": 3}
HEX = "0123456789abcdef"
# The seed of derandomized profiles (smoke, ci): the same command always replays the same runs.
FIXED_SEED = 20260701
STATEFUL_SUITE = "suites/test_stateful.py"
RuleFunction = TypeVar("RuleFunction", bound=Callable[..., Any])


@dataclass
class Step:
    """One step of a run as it happened: the rule, its arguments' labels and its requests."""

    call: str
    exchanges: list[Exchange]

    def render(self, number: int) -> list[str]:
        requests = [f"{e.method} {e.url} -> {e.status}" for e in self.exchanges]
        lines = [f"{number:>3}. {self.call}"]
        for request, repeats in itertools.groupby(requests):
            times = len(list(repeats))
            lines.append(f"       {request}" + (f" (x{times})" if times > 1 else ""))
        return lines


def journaled(function: RuleFunction) -> RuleFunction:
    """Record each top-level step and the requests it made, for the reproduction."""

    @functools.wraps(function)
    def step(machine: Any, **arguments: Any) -> Any:
        if machine.in_step:  # a rule calling another rule: part of the outer step
            return function(machine, **arguments)
        machine.in_step, start = True, TRANSCRIPT.count
        try:
            return function(machine, **arguments)
        finally:
            machine.in_step = False
            call = ", ".join(f"{name}={value!r}" for name, value in arguments.items())
            machine.journal.append(Step(f"{function.__name__}({call})", TRANSCRIPT.since(start)))

    return step  # type: ignore[return-value]


@dataclass
class Actor:
    """A Jira-App user: tenant, principal and its request-key chain."""

    label: str
    tenant: str
    session: JiraAppSession
    consumed: list[str] = field(default_factory=list)

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

    @property
    def session(self) -> PermitSession:
        if self.minted is None:
            self.minted = self.mint()
        return self.minted

    def mint_now(self) -> Permit:
        _ = self.session
        return self

    def __repr__(self) -> str:
        return f"Permit({self.label} {self.tenant}:{self.task.task_id})"


@dataclass
class Code:
    label: str
    tenant: str
    task: TaskRef
    value: str
    expires_at: float | None
    state: str = "fresh"  # fresh | used | maybe-burned (after a mismatched exchange)

    def __repr__(self) -> str:
        return f"Code({self.label} {self.tenant}:{self.task.task_id} {self.state})"

    def near_expiry(self) -> bool:
        return self.expires_at is not None and time.time() > self.expires_at - EXPIRY_MARGIN_S


@dataclass
class RunRef:
    label: str
    tenant: str
    task: TaskRef
    run_id: str
    permit: Permit
    highest: int = -1  # highest status rank seen so far

    def __repr__(self) -> str:
        return f"Run({self.label} {self.tenant}:{self.task.task_id})"


@dataclass
class Written:
    """A progress document the model holds (the document itself is in ``progress``)."""

    label: str
    tenant: str
    task: TaskRef

    def __repr__(self) -> str:
        return f"Progress({self.label} {self.tenant}:{self.task.task_id})"


@dataclass
class Key:
    """A request key some actor already used: never valid again."""

    label: str
    owner: Actor
    value: str

    def __repr__(self) -> str:
        return f"ConsumedKey({self.label} of {self.owner.label})"


def _same_pair(permit: Permit, tenant: str, task: TaskRef) -> bool:
    return permit.tenant == tenant and permit.task == task


def build_machine(protocol: ProtocolSteps, forge: CredentialSource) -> type[RuleBasedStateMachine]:
    """The machine class, closed over this session's target and credentials."""
    labels = itertools.count(1)
    multi_principal = forge.principals_per_tenant is None

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

        def __init__(self) -> None:
            super().__init__()
            type(self).latest = self
            self.journal: list[Step] = []
            self.in_step = False
            self.example = next(labels)
            self.progress: dict[tuple[str, str, str], dict[str, Any]] = {}
            self.index: dict[tuple[str, str], dict[str, str]] = {}
            # The retrospective board: accepted writes per pair that may legally change what the
            # board shows for it (snapshots; runs, progress, index writes and IDE launches as
            # fallback sources), and how many board items each viewer saw filed under each pair
            # when it last read.
            self.board_writes: Counter[tuple[str, str, str]] = Counter()
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
        @journaled
        def use_current_key(self, actor: Actor, replay_at_once: bool) -> Key:
            """A fresh key works once, and the success hands out the next one (RK-ROTATION)."""
            key = actor.session.take_key()
            response = actor.session.send_with_key(key, "GET", "/v1/instances/me")
            assert_success(response, "RK-ROTATION", what=f"a call with {actor.label}'s current key")
            if not response.headers.get("X-SeeCodes-Next-Request-Key"):
                fail("RK-ROTATION", "a successful call carried no next request key", [response])
            actor.session.adopt_next_key(response)
            used = Key(f"k{next(self.writes)}", actor, key)
            if replay_at_once:
                self.replay_consumed_key(key=used)
            return used

        @rule(key=consumed_keys)
        @journaled
        def replay_consumed_key(self, key: Key) -> None:
            """A consumed key is refused, and the refusal hands out no key (RK-REPLAY)."""
            response = key.owner.session.send_with_key(key.value, "GET", "/v1/instances/me")
            assert_rejected(response, "RK-REPLAY", what=f"a replay of {key!r}")
            self._forget_key(key.owner)

        @rule(holder=actors, sender=actors)
        @journaled
        def foreign_key(self, holder: Actor, sender: Actor) -> None:
            """A key works only in its own tenant/session context (RK-*-BINDING)."""
            assume(holder is not sender)  # before any request: an invalid example costs nothing
            key = holder.session.take_key()
            response = sender.session.send_with_key(key, "GET", "/v1/instances/me")
            invariant = (
                "RK-TENANT-BINDING" if holder.tenant != sender.tenant else "RK-SESSION-BINDING"
            )
            assert_rejected(
                response, invariant, what=f"{holder.label}'s key sent by {sender.label}"
            )
            self._forget_key(holder)

        def _forget_key(self, actor: Actor) -> None:
            # A rejection may or may not have burnt keys of that chain: the target's choice.
            actor.session.take_key()

        # -- permits and launch codes -------------------------------------------------------
        @rule(target=permits, actor=actors, task=tasks)
        @journaled
        def mint_permit(self, actor: Actor, task: TaskRef) -> Permit:
            return self._permit(actor, task).mint_now()  # minted in the step that names it

        @rule(target=codes, actor=actors, task=tasks)
        @journaled
        def mint_code(self, actor: Actor, task: TaskRef) -> Code:
            self._wrote(actor.tenant, task)  # IDE launches may feed the board as fallback
            link = protocol.mint_launch_code(task, actor.session)
            expires = link.body.get("expiresAt")
            expires_at = float(expires) if isinstance(expires, int | float) else None
            return Code(f"c{next(self.writes)}", actor.tenant, task, link.code, expires_at)

        @rule(target=permits, code=codes, task=tasks)
        @journaled
        def exchange(self, code: Code, task: TaskRef) -> Any:
            """Exactly one successful exchange per code, and only for its own pair."""
            response = protocol.exchange(code.value, task)
            matches = task == code.task
            if not matches:
                assert_rejected(response, "LC-MATCH", what=f"{code!r} exchanged for {task.task_id}")
                if code.state == "fresh":
                    code.state = "maybe-burned"
                return multiple()
            if code.state == "used":
                assert_rejected(response, "LC-REPLAY", what=f"a replay of used {code!r}")
                return multiple()
            either = code.state == "maybe-burned" or code.near_expiry()
            if either and not response.is_success:
                assert_rejected(response, "LC-EXCHANGE", what=f"exchange of {code!r}")
                code.state = "used"
                return multiple()
            session = protocol.exchanged_permit(response, task, what=f"first exchange of {code!r}")
            code.state = "used"
            label = f"p{next(self.writes)}"
            return multiple(Permit(label, code.tenant, task, lambda: session, session))

        # -- progress -----------------------------------------------------------------------
        @rule(target=written_progress, permit=permits, task=tasks)
        @journaled
        def write_progress(self, permit: Permit, task: TaskRef) -> Any:
            doc = {"ready": [f"write-{next(self.writes)}"], "left": [], "progress": "50%",
                   "confidence": "Medium", "risks": [], "logs": []}  # fmt: skip
            response = protocol.write_progress(permit.session, doc, task_id=task.task_id)
            key = (permit.tenant, permit.task.project_id, task.task_id)
            if task.task_id != permit.task.task_id:
                assert_rejected(
                    response,
                    "PERMIT-BINDING-PROGRESS",
                    what=f"{permit!r} writing progress of {task.task_id}",
                )
                return multiple()
            assert_success(response, "PROGRESS-ROUNDTRIP", what=f"progress write by {permit!r}")
            self.progress[key] = doc
            self._wrote(permit.tenant, permit.task)
            return Written(f"w{next(self.writes)}", permit.tenant, permit.task)

        @rule(permit=permits, written=written_progress)
        @journaled
        def read_written_progress(self, permit: Permit, written: Written) -> None:
            """Progress someone wrote, read with any permit: only its own pair's permit sees it."""
            self.read_progress(permit=permit, task=written.task)

        @rule(permit=permits, task=tasks)
        @journaled
        def read_progress(self, permit: Permit, task: TaskRef) -> None:
            response = protocol.read_progress(permit.session, task.project_id, task.task_id)
            if task != permit.task:
                assert_rejected(
                    response,
                    "PERMIT-BINDING-PROGRESS-READ",
                    what=f"{permit!r} reading progress of {task.task_id}",
                    protected=self._progress_markers(task),
                )
                return
            expected = self.progress.get((permit.tenant, task.project_id, task.task_id))
            body = json_or_none(response)
            stored = body.get("progress") if isinstance(body, dict) else None
            if expected is None:
                # Nothing written for this pair here: whatever the answer, no foreign document.
                if response.status_code >= 500:
                    fail("NO-SERVER-ERROR", "reading absent progress failed", [response])
                leaked = self._progress_markers(task) & set(_strings(stored))
                if response.is_success and leaked:
                    fail("TENANT-ISOLATION", f"{permit!r} read progress it never wrote", [response])
                return
            assert_success(response, "PROGRESS-ROUNDTRIP", what=f"{permit!r} reading its progress")
            if not isinstance(stored, dict) or any(stored.get(k) != v for k, v in expected.items()):
                fail(
                    "PROGRESS-ROUNDTRIP",
                    "the progress read back differs from the last write",
                    [response],
                )

        def _progress_markers(self, task: TaskRef) -> set[str]:
            """Markers of every progress document written for these ids, in any tenant."""
            return {m for (_, p, t), doc in self.progress.items() if t == task.task_id
                    and p == task.project_id for m in doc["ready"]}  # fmt: skip

        # -- activity snapshots and the retrospective board -----------------------------------
        @rule(permit=permits, body_task=tasks)
        @journaled
        def send_snapshot(self, permit: Permit, body_task: TaskRef) -> None:
            """A snapshot is filed under the permit's pair; body ids of another pair are
            rejected or ignored, never obeyed (PERMIT-BINDING-SNAPSHOT)."""
            crossing = body_task != permit.task
            ids = {"projectId": body_task.project_id, "taskId": body_task.task_id}
            doc = protocol.snapshot_now(**(ids if crossing else {}))
            response = protocol.write_snapshot(permit.session, doc)
            if crossing and not response.is_success:
                assert_rejected(response, "PERMIT-BINDING-SNAPSHOT", what=f"{permit!r} filing "
                                f"a snapshot under {body_task.task_id}")  # fmt: skip
            else:
                assert_success(response, "SNAPSHOT-STORED", what=f"a snapshot sent by {permit!r}")
                self._wrote(permit.tenant, permit.task)
            if crossing:  # read back the board of the pair the body named
                reader = next(a for a in self.initial_actors if a.tenant == permit.tenant)
                self.read_board(actor=reader, task=body_task)

        @rule(actor=actors, task=tasks)
        @journaled
        def read_board(self, actor: Actor, task: TaskRef) -> None:
            """What the board files under a pair changes only after a write to that pair."""
            response = protocol.team_competition(actor.session, project_id=task.project_id)
            body = assert_success(response, "TEAM-COMPETITION", what=f"{actor.label} reading "
                                  f"the board of {task.project_id}")  # fmt: skip
            items = body.get("items") if isinstance(body, dict) else None
            # Counted, not compared: items may carry fields computed at read time, and a board
            # may aggregate; an item appearing under a pair nobody wrote to is a leak either way.
            filed = sum(
                1
                for item in items or []
                if isinstance(item, dict) and item.get("taskId") == task.task_id
            )
            pair = (actor.tenant, task.project_id, task.task_id)
            # Per viewer: whether a board is the team's or each user's is the target's choice.
            viewed = (actor.label, task.project_id, task.task_id)
            seen, writes_then = self.board_seen.get(viewed, (0, 0))  # fresh ids: empty at first
            if filed != seen and self.board_writes[pair] == writes_then:
                fail("PERMIT-BINDING-SNAPSHOT", f"the board of {actor.tenant}:{task.task_id} "
                     "changed although nothing was accepted for that pair", [response])  # fmt: skip
            self.board_seen[viewed] = (filed, self.board_writes[pair])

        def _wrote(self, tenant: str, task: TaskRef) -> None:
            self.board_writes[(tenant, task.project_id, task.task_id)] += 1

        # -- runs ---------------------------------------------------------------------------
        @rule(target=runs, permit=permits, body_task=tasks, watcher=permits, settle=st.booleans())
        @journaled
        def start_new_run(
            self, permit: Permit, body_task: TaskRef, watcher: Permit, settle: bool
        ) -> RunRef:
            """Init (with ids in the body), upload, start: the run is the permit's pair's, and
            the watcher sees it exactly when it holds the same pair. Settling (polling the whole
            lifecycle) is a choice, as it costs the target's full run time."""
            body: dict[str, Any] = {"model": "strict light", "files": ["list.md"]}
            body.update(projectId=body_task.project_id, taskId=body_task.task_id)
            response = permit.session.post("/v1/tasks/init", json=body)
            if body_task != permit.task and not response.is_success:
                assert_rejected(response, "BODY-NO-REDIRECT", what="init with foreign body ids")
                return multiple()  # type: ignore[return-value]
            data = assert_success(response, "RUN-INIT", what=f"init by {permit!r}")
            run = RunRef(
                f"r{next(self.writes)}", permit.tenant, permit.task, str(data["runId"]), permit
            )
            uploads = {str(k): str(v) for k, v in (data.get("uploads") or {}).items()}
            register_credentials(data)
            for url in uploads.values():
                protocol.upload(url, SAMPLE_LIST_MD)
            started = protocol.start_run(permit.session, run.run_id)
            if not started.is_success and body_task != permit.task:
                fail("BODY-NO-REDIRECT", "a run made with this permit cannot be started with it "
                     "(did the body ids redirect it?)", [response, started])  # fmt: skip
            assert_success(started, "RUN-START", what=f"{permit!r} starting {run!r}")
            self._wrote(permit.tenant, permit.task)
            if settle:
                self._settle(run)
            else:
                self._poll(permit, run)
            if watcher is not permit:
                self._poll(watcher, run)
            return run

        def _settle(self, run: RunRef) -> None:
            """Poll until the run settles, then once more: no status may move back."""
            deadline = time.monotonic() + 30
            while run.highest < RUN_ORDER["succeeded"] and time.monotonic() < deadline:
                self._poll(run.permit, run)
                time.sleep(0.02)
            self._poll(run.permit, run)

        @rule(permit=permits, run=runs)
        @journaled
        def poll_run(self, permit: Permit, run: RunRef) -> None:
            self._poll(permit, run)

        def _poll(self, permit: Permit, run: RunRef) -> None:
            response = permit.session.get(f"/v1/tasks/{run.run_id}")
            if not _same_pair(permit, run.tenant, run.task):
                assert_rejected(response, "PERMIT-BINDING-RUN", what=f"{permit!r} polling {run!r}")
                return
            data = assert_success(response, "RUN-STATUS", what=f"{permit!r} polling {run!r}")
            status = (data.get("status") or {}).get("status") if isinstance(data, dict) else None
            if status not in RUN_ORDER:
                fail("RUN-STATUS", f"undocumented run status {status!r}", [response])
            rank = RUN_ORDER[str(status)]
            if rank < run.highest:
                fail("RUN-MONOTONIC", f"{run!r} moved back to {status!r}", [response])
            run.highest = max(run.highest, rank)

        # -- project indexes ----------------------------------------------------------------
        @rule(permit=permits, task=tasks, path=st.sampled_from(["src/a.ts", "src/b.ts"]),
              digit=st.sampled_from(HEX))  # fmt: skip
        @journaled
        def upsert_index(self, permit: Permit, task: TaskRef, path: str, digit: str) -> None:
            project = task.project_id
            entry = {"hash": digit * 64, "updatedAt": 1710000000000, "short": "s",
                     "detailed": "d", "important_symbols": []}  # fmt: skip
            response = permit.session.post(
                f"/v1/projects/{project}/indexes/upsert",
                json={"entries": {path: entry}, "deletePaths": []},
            )
            if permit.task.project_id != project:
                assert_rejected(
                    response,
                    "PERMIT-BINDING-INDEX",
                    what=f"{permit!r} writing the index of {project}",
                )
                return
            assert_success(response, "INDEX-ROUNDTRIP", what=f"{permit!r} upserting {path}")
            self.index.setdefault((permit.tenant, project), {})[path] = entry["hash"]
            for task in self.initial_tasks:  # an index is per project: any of its pairs
                if task.project_id == project:
                    self._wrote(permit.tenant, task)

        @rule(permit=permits, path=st.sampled_from(["src/a.ts", "src/b.ts"]))
        @journaled
        def query_index(self, permit: Permit, path: str) -> None:
            project = permit.task.project_id
            stored = self.index.get((permit.tenant, project), {})
            probe_hash = stored.get(path, "f" * 63 + "e")
            response = permit.session.post(
                f"/v1/projects/{project}/indexes/query",
                json={"items": [{"path": path, "hash": probe_hash}]},
            )
            data = assert_success(response, "INDEX-ROUNDTRIP", what=f"{permit!r} querying {path}")
            match = (data.get("matches") or {}).get(path) if isinstance(data, dict) else None
            path_matched = isinstance(match, dict) and match.get("pathMatched") is True
            if path_matched != (path in stored):
                lost = path in stored
                invariant = "INDEX-ROUNDTRIP" if lost else "TENANT-ISOLATION"
                change = "lost" if lost else "gained"
                where = f"{permit.tenant}:{project}"
                fail(invariant, f"the index of {where} {change} {path}", [response])

    return EngineMachine


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.invariant(
    "RK-ROTATION", "RK-REPLAY", "RK-TENANT-BINDING", "RK-SESSION-BINDING",
    "LC-EXCHANGE", "LC-REPLAY", "LC-MATCH",
    "PERMIT-BINDING-PROGRESS", "PERMIT-BINDING-PROGRESS-READ", "PERMIT-BINDING-RUN",
    "PERMIT-BINDING-INDEX", "BODY-NO-REDIRECT", "RUN-MONOTONIC", "RUN-STATUS",
    "PROGRESS-ROUNDTRIP", "INDEX-ROUNDTRIP", "TENANT-ISOLATION",
    "PERMIT-BINDING-SNAPSHOT", "SNAPSHOT-STORED", "TEAM-COMPETITION",
)  # fmt: skip
def test_engine_behaves_like_its_model(
    protocol: ProtocolSteps, forge: CredentialSource, seecodes_settings: Settings
) -> None:
    profile = seecodes_settings.profile
    run_seed = choose_seed(
        seecodes_settings.stateful_seed,
        seecodes_settings.profile,
        protocol.ids.run_prefix,
        derandomized=FIXED_SEED,
    )
    machine = build_machine(protocol, forge)
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
        raise
