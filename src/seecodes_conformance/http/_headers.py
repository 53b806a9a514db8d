"""The protocol's request-key header names and bootstrap route, defined once."""

REQUEST_KEY_HEADER = "X-SeeCodes-Jira-Request-Key"
NEXT_KEY_HEADER = "X-SeeCodes-Next-Request-Key"
BOOTSTRAP_PATH = "/v1/jira/request-key"
