"""The verdict on a race: N concurrent uses of one single-use credential, exactly one winner.

Shared by every race test (request keys, launch codes), so "one winner, losers got a 4xx and
nothing usable" has one definition. The burst itself is ``race.send_burst``; this module only
judges its ``BurstResult`` and, on failure, shows every outcome (redacted), because a double win
is only convincing next to the other N-2 answers.
"""

from __future__ import annotations

import contextlib
import json
import statistics
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn

from seecodes_conformance.http import NEXT_KEY_HEADER, is_throttled, json_or_none
from seecodes_conformance.oracle import fail
from seecodes_conformance.outcomes import LOG, not_verified
from seecodes_conformance.race import BurstError, BurstResponse, BurstResult, offered_techniques
from seecodes_conformance.redaction import (
    CREDENTIAL_FIELDS,
    REGISTRY,
    SecretRegistry,
    register_credentials,
)

BODY_SNIPPET = 160


def succeeded(response: BurstResponse) -> bool:
    """The default notion of a win: a 2xx."""
    return 200 <= response.status < 300


def register_secrets(result: BurstResult, secrets: SecretRegistry = REGISTRY) -> None:
    """Register every credential a burst's responses carry (bodies and next-key headers)."""
    for response in result.responses:
        register_credentials(json_or_none(response), response.header(NEXT_KEY_HEADER), secrets)


def describe_outcomes(
    result: BurstResult,
    winners: Iterable[int] = (),
    secrets: SecretRegistry = REGISTRY,
) -> str:
    """One redacted line per response: index, status, next-key header, body snippet."""
    won = set(winners)
    lines = [
        f"  burst: {result.technique}, {len(result.responses)} requests, release spread "
        f"{result.release_spread_s * 1e6:.0f} µs; {result.note}"
    ]
    for index, response in enumerate(result.responses):
        tag = "WIN " if index in won else "    "
        if response.error:
            lines.append(f"  {tag}#{index:02d} no response: {response.error}")
            continue
        next_key = response.header(NEXT_KEY_HEADER)
        text = response.body.decode("utf-8", errors="replace")
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(text), separators=(",", ":"))
        if len(text) > BODY_SNIPPET:
            text = text[:BODY_SNIPPET] + "…"
        lines.append(
            f"  {tag}#{index:02d} {response.status}"
            f"{f' next-key={next_key}' if next_key else ''} {text}"
        )
    return secrets.redact("\n".join(lines))


def assert_single_winner(
    result: BurstResult,
    invariant: str,
    *,
    is_win: Callable[[BurstResponse], bool] = succeeded,
    what: str = "the burst",
    secrets: SecretRegistry = REGISTRY,
) -> int:
    """Assert exactly one response won and every other one is a clean rejection.

    A win is whatever ``is_win`` says (default: a 2xx). Every loser must be a 4xx (never a 5xx,
    never a 2xx that is not a win, never a dropped connection) and must carry no credential in
    its body. Returns the index of the winner. Checks that need further requests (does a loser's
    next key work? does the winner's credential work?) are the caller's, with this index.
    """
    register_secrets(result, secrets)
    winners = [i for i, r in enumerate(result.responses) if not r.error and is_win(r)]
    n = len(result.responses)

    def violation(problem: str) -> NoReturn:
        fail(
            invariant,
            f"{what}: {problem}\n  all {n} outcomes:\n"
            + describe_outcomes(result, winners, secrets),
            secrets=secrets,
        )

    if len(winners) != 1:
        violation(f"expected exactly one winner among {n} concurrent requests, got {len(winners)}")
    winner = winners[0]
    for index, response in enumerate(result.responses):
        if index == winner:
            continue
        if response.error:
            violation(f"request #{index} got no response (expected a 4xx rejection)")
        if response.status >= 500:
            violation(f"loser #{index} got a server error {response.status} instead of a 4xx")
        if not 400 <= response.status < 500:
            violation(f"loser #{index} got {response.status}; a losing request must get a 4xx")
        body = json_or_none(response)
        if isinstance(body, dict):
            leaked = [name for name in CREDENTIAL_FIELDS if body.get(name)]
            if leaked:
                violation(f"loser #{index} was handed {', '.join(leaked)}")
    LOG.passed(invariant)  # the one winner is the race's own positive control
    return winner


def loser_headers(result: BurstResult, winner: int, name: str) -> list[tuple[int, str]]:
    """``(index, value)`` of header ``name`` on every losing response that carries it."""
    found: list[tuple[int, str]] = []
    for index, response in enumerate(result.responses):
        value = response.header(name)
        if index != winner and value:
            found.append((index, value))
    return found


def inconclusive(result: BurstResult) -> str | None:
    """Why this burst proves nothing about the race, or None when it is conclusive.

    A burst is conclusive only if every request raced (no response began before the release)
    and every request got an answer from the protocol: a throttled answer (429, 503 with
    Retry-After), a bare 503, or a request refused at the transport (a reset connection, a
    REFUSED_STREAM) is the target or its gateway saying "not now", never a rejection.
    """
    if result.early:
        return f"{result.early} response(s) began before the release"
    for index, response in enumerate(result.responses):
        if response.error:
            return f"request #{index} was refused at the transport: {response.error}"
        headers = dict(response.headers)
        if is_throttled(response.status, headers) or response.status == 503:
            return f"request #{index} was throttled ({response.status})"
    return None


class RaceCampaign:
    """Bursts for one race invariant until enough were conclusive or the burst budget is spent.

    ``for burst in campaign:`` yields burst numbers; the body sends a burst and asks
    ``campaign.conclusive(result)`` before judging it. ``finish()`` records the figures
    (conclusive / sent bursts, release spread achieved) and makes the invariant not verified
    when too few bursts were conclusive. A burst with two winners fails at once: one is enough.
    """

    def __init__(self, invariant: str, wanted: int, *, budget: int | None = None) -> None:
        self.invariant = invariant
        self.wanted = max(1, wanted)
        self.budget = budget if budget is not None else 3 * self.wanted
        self.sent = 0
        self.conclusive_bursts = 0
        self.spreads: list[float] = []
        self.reasons: list[str] = []
        self.by_technique: dict[str, list[int]] = {}  # technique: [conclusive, sent]
        self._offered: tuple[str, ...] | None = None

    def __iter__(self) -> Iterator[int]:
        while self.conclusive_bursts < self.wanted and self.sent < self.budget:
            self.sent += 1
            yield self.sent

    def send(
        self, burst: Callable[..., BurstResult], *args: Any, **kwargs: Any
    ) -> BurstResult | None:
        """``burst(*args, **kwargs)``; a connection refused while setting it up (a reset
        warm-up, say) makes the burst inconclusive instead of an error.

        With ``technique="auto"`` the bursts take turns over every technique the target offers
        (HTTP/2 single-packet and HTTP/1.1 last-byte where it speaks both): an implementation
        whose lock holds under one transport's scheduling may not under the other's.
        """
        if kwargs.get("technique") == "auto" and args:
            if self._offered is None:
                self._offered = offered_techniques(str(args[0]), tls=kwargs.get("tls"))
            kwargs["technique"] = self._offered[(self.sent - 1) % len(self._offered)]
        try:
            return burst(*args, **kwargs)
        except (BurstError, ConnectionError) as exc:
            self.reasons.append(f"burst {self.sent}: could not be sent: {exc}")
            return None

    def conclusive(
        self, result: BurstResult, is_win: Callable[[BurstResponse], bool] = succeeded
    ) -> bool:
        """Judge this burst? Two winners always are: a single-use credential that worked twice
        is a violation however the burst was released; otherwise see ``inconclusive``."""
        self.spreads.append(result.release_spread_s)
        tally = self.by_technique.setdefault(result.technique, [0, 0])
        tally[1] += 1
        wins = sum(1 for r in result.responses if not r.error and is_win(r))
        reason = None if wins >= 2 else inconclusive(result)
        if reason is not None:
            self.reasons.append(f"burst {self.sent}: {reason}")
            return False
        self.conclusive_bursts += 1
        tally[0] += 1
        return True

    def figures(self) -> str:
        spread = (
            f"; release spread median {statistics.median(self.spreads) * 1e6:.0f} µs, "
            f"max {max(self.spreads) * 1e6:.0f} µs"
            if self.spreads
            else ""
        )
        techniques = (
            " ("
            + ", ".join(f"{t} {c}/{n}" for t, (c, n) in sorted(self.by_technique.items()))
            + ")"
            if self.by_technique
            else ""
        )
        return f"{self.conclusive_bursts}/{self.sent} bursts conclusive{techniques}{spread}"

    def finish(self) -> None:
        LOG.note(self.invariant, self.figures())
        if self.conclusive_bursts >= self.wanted:
            return
        why = "; ".join(self.reasons[:3]) + (" …" if len(self.reasons) > 3 else "")
        not_verified(
            self.invariant,
            "unsynchronized",
            f"{self.figures()}, {self.wanted} wanted ({why})",
            "a lower --rate-limit or a rate-limit allowance for the harness, another "
            "--race-technique, a smaller --race-size",
        )
