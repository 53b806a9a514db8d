"""The gateway variants answer "not now" exactly as advertised, on a raw client.

``throttle-429``: every 7th request 429 with Retry-After, as delta-seconds and as an HTTP-date;
``refuse-503``: every 9th 503 with Retry-After; ``refuse-connections``: every 4th new TCP
connection reset before a byte is read. (``never-settle`` is proven through the suites, in
tests/test_verdicts.py: no run settles within --run-wait; ``slow-runs`` in
tests/test_slow_runs.py: runs settle late, side by side.)
"""

from __future__ import annotations

import email.utils

import httpx
from engine_helpers import start_engine

# Variants whose proof lives here, in tests/test_verdicts.py or tests/test_slow_runs.py, not in
# the route walk.
GATEWAY_VARIANTS = frozenset(
    {"throttle-429", "refuse-503", "refuse-connections", "never-settle", "slow-runs"}
)


def _statuses(base_url: str, n: int) -> list[httpx.Response]:
    with httpx.Client(base_url=base_url, timeout=10) as client:  # no polite retries here
        return [client.get("/healthz") for _ in range(n)]


def test_throttle_429_answers_every_seventh_request_with_both_retry_after_forms() -> None:
    with start_engine(variants=["throttle-429"]) as engine:
        answers = _statuses(engine.base_url, 28)
    throttled = [a for a in answers if a.status_code == 429]
    assert len(throttled) >= 3 and all(a.status_code in (200, 429) for a in answers)
    forms = {a.headers["retry-after"].isdigit() for a in throttled}
    assert forms == {True, False}
    dated = next(
        a.headers["retry-after"] for a in throttled if not a.headers["retry-after"].isdigit()
    )
    assert email.utils.parsedate_to_datetime(dated) is not None


def test_refuse_503_answers_every_ninth_request_503_with_retry_after() -> None:
    with start_engine(variants=["refuse-503"]) as engine:
        answers = _statuses(engine.base_url, 27)
    refused = [a for a in answers if a.status_code == 503]
    assert len(refused) >= 2 and all("retry-after" in a.headers for a in refused)


def test_refuse_connections_resets_a_share_of_new_connections() -> None:
    with start_engine(variants=["refuse-connections"]) as engine:
        outcomes = []
        for _ in range(12):
            with httpx.Client(base_url=engine.base_url, timeout=10) as client:  # new connection
                try:
                    outcomes.append(client.get("/healthz").status_code)
                except httpx.TransportError:
                    outcomes.append(0)
    assert outcomes.count(0) >= 2 and outcomes.count(200) >= 6, outcomes
