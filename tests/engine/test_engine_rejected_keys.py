"""Whether a rejected Jira-App request uses up its key is the engine's choice: by default the key
survives the rejection; under burn-key-on-reject every rejection that carried a key uses it up."""

from __future__ import annotations

import pytest
from engine_helpers import forge_token, jira_session, start_engine

from seecodes_conformance.http import new_http_client

METRICS = "/v1/jira/instance-metrics"


@pytest.mark.parametrize("burn", [False, True], ids=["key-survives", "burn-key-on-reject"])
def test_a_rejection_uses_up_the_key_only_under_the_variant(burn: bool) -> None:
    variants = ["burn-key-on-reject"] if burn else []
    with start_engine(variants=variants) as engine, new_http_client(engine.base_url) as http:
        jira = jira_session(http)
        rejections = {
            "a bad body": {"json": {"source": "no count"}},
            "no Forge token": {"json": {"installedUsersCount": 3}, "forge_token": None},
            "a Forge token of another tenant": {
                "json": {"installedUsersCount": 3},
                "forge_token": forge_token("b"),
            },
        }
        for what, kwargs in rejections.items():
            key = jira.take_key()
            rejected = jira.send_with_key(key, "POST", METRICS, **kwargs)
            assert 400 <= rejected.status_code < 500, (what, rejected.text)
            again = jira.send_with_key(key, "POST", METRICS, json={"installedUsersCount": 3})
            if burn:
                assert again.status_code == 409, (what, again.text)
            else:
                assert again.status_code == 200, (what, again.text)
