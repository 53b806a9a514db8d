"""The redaction function: every registered secret and every credential shape disappears."""

from seecodes_conformance.redaction import SecretRegistry, register_credentials


def test_registered_secrets_get_stable_distinct_markers() -> None:
    registry = SecretRegistry()
    registry.add("sc_jira_req_AAAAAAAAAAAA", "request-key")
    registry.add("sc_jira_req_BBBBBBBBBBBB", "request-key")
    text = (
        "used sc_jira_req_AAAAAAAAAAAA then sc_jira_req_BBBBBBBBBBBB then sc_jira_req_AAAAAAAAAAAA"
    )
    assert registry.redact(text) == "used [request-key#1] then [request-key#2] then [request-key#1]"


def test_url_encoded_form_is_redacted_too() -> None:
    registry = SecretRegistry()
    registry.add("abc/def+ghi=jkl", "permit")
    assert "def" not in registry.redact("x=abc%2Fdef%2Bghi%3Djkl")


def test_short_values_are_not_registered() -> None:
    registry = SecretRegistry()
    registry.add("ok", "permit")
    assert registry.redact("ok then") == "ok then"


def test_unregistered_bearer_and_query_credentials_are_redacted_by_shape() -> None:
    registry = SecretRegistry()
    text = "Authorization: Bearer eyJhbGciOi.payload.sig and /v1/launch?p=A&t=A-1&c=sc_launch_zzz"
    out = registry.redact(text)
    assert "eyJhbGciOi" not in out
    assert "sc_launch_zzz" not in out
    assert "p=A&t=A-1" in out


def test_presigned_signature_is_redacted() -> None:
    out = SecretRegistry().redact("https://h/_uploads/r/list.md?expires=1&sig=deadbeefcafe")
    assert "deadbeefcafe" not in out and "expires=1" in out


def test_longer_secret_containing_a_shorter_one_is_replaced_whole() -> None:
    registry = SecretRegistry()
    registry.add("secretvalue", "launch-code")
    registry.add("prefix-secretvalue-suffix", "launch-url")
    assert registry.redact("prefix-secretvalue-suffix") == "[launch-url#1]"


def test_found_in_lists_markers() -> None:
    registry = SecretRegistry()
    registry.add("permit-value-123", "permit")
    assert registry.found_in("body permit-value-123") == ["[permit#1]"]
    assert registry.found_in("nothing") == []


def test_a_truncated_secret_is_still_redacted() -> None:
    registry = SecretRegistry()
    permit = "sc_permit_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
    registry.add(permit, "permit")
    out = registry.redact('{"permit": "' + permit[:30] + "…")
    assert permit[:20] not in out
    assert "[permit#1]" in out


def test_an_unregistered_jwt_is_not_named_after_a_registered_one() -> None:
    registry = SecretRegistry()
    header = "eyJhbGciOiJSUzI1NiJ9."
    registry.add(header + "first-token-payload-aaaaaaaaaaaaaaaa", "forge-token")
    other = header + "a-token-nobody-registered-bbbbbbbbbbbbbb"
    assert "[forge-token#1]" not in registry.redact(other)


def test_registered_jwts_keep_their_marker_and_other_jwt_shapes_are_hidden() -> None:
    registry = SecretRegistry()
    registered = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhYWFhYWFhIn0.c2lnbmF0dXJlLW9uZQ"
    foreign = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4eHh4eHh4In0.c2lnbmF0dXJlLXZhbHVl"
    registry.add(registered, "forge-token")
    out = registry.redact(f"mine {registered}, theirs {foreign}, cut {foreign[:30]}…")
    assert "[forge-token#1]" in out
    assert out.count("[unregistered-jwt]") == 2
    assert "eyJzdWIi" not in out and "eyJhbGci" not in out


def test_register_credentials_takes_body_fields_uploads_and_the_next_key() -> None:
    registry = SecretRegistry()
    body = {
        "ok": True,
        "permit": "permit-value-1234",
        "launchCode": "launch-code-5678",
        "requestKey": "sc_jira_req_CCCCCCCCCCCC",
        "uploads": {"list.md": "https://store.invalid/put?sig=abcdef123456"},
        "projectId": "PROJ-not-a-secret",
    }
    register_credentials(body, "sc_jira_req_DDDDDDDDDDDD", registry)
    for value in (
        "permit-value-1234",
        "launch-code-5678",
        "sc_jira_req_CCCCCCCCCCCC",
        "sc_jira_req_DDDDDDDDDDDD",
        "abcdef123456",
    ):
        assert value in registry
    assert "PROJ-not-a-secret" not in registry


def test_a_presigned_url_keeps_its_origin_and_path_and_loses_its_credentials() -> None:
    """Redaction removes credentials, never origins: the target's own origin stays readable
    everywhere, including in reproduction commands."""
    registry = SecretRegistry()
    url = "https://staging.example.com:8443/_uploads/run-1/list.md?expires=1796205600&sig=9f8e7d6c5b4a"
    register_credentials({"uploads": {"list.md": url}}, None, registry)
    text = registry.redact(
        f"PUT {url}\ncurl -X POST https://staging.example.com:8443/v1/tasks/init"
    )
    assert "https://staging.example.com:8443/_uploads/run-1/list.md?expires=1796205600" in text
    assert "9f8e7d6c5b4a" not in text
    assert "curl -X POST https://staging.example.com:8443/v1/tasks/init" in text


def test_register_credentials_ignores_bodies_that_are_not_objects() -> None:
    registry = SecretRegistry()
    register_credentials(None, None, registry)
    register_credentials(["permit-value-1234"], None, registry)
    assert registry.values() == []
