"""The verdict on a race: N concurrent uses of one single-use credential, exactly one winner.

Shared by every race test (request keys, launch codes), so "one winner, losers got a 4xx and
nothing usable" has one definition. The burst itself is ``race.send_burst``; this module only
judges its ``BurstResult`` and, on failure, shows every outcome (redacted), because a double win
is only convincing next to the other N-2 answers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from typing import NoReturn

from seecodes_conformance.http import NEXT_KEY_HEADER, json_or_none
from seecodes_conformance.oracle import fail
from seecodes_conformance.outcomes import LOG
from seecodes_conformance.race import BurstResponse, BurstResult
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
