"""The secret registry and the one redaction function every output path uses.

Every credential the harness mints or receives (Forge tokens, request keys, launch codes,
permits, presigned signatures) is registered the moment it exists. Redaction replaces each with
a stable marker such as ``[request-key#3]``, so a reader can still tell two secrets apart
without seeing either.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs, quote, urlsplit

# Values shorter than this are too generic to redact safely (they would shred ordinary text).
MIN_SECRET_LENGTH = 8
# A secret cut short (tools truncate long bodies) is still recognised by this many leading chars.
PREFIX_LENGTH = 16
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9._~+/=%-]*")

# Presigned-URL signatures and similar query credentials are redacted by shape as well, because a
# target may mint them in places the harness never parses.
_QUERY_SECRET = re.compile(
    r"(?i)([?&](?:sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|token|"
    r"code|c|k|key|permit)=)([^&#\s\"'<>]+)"
)
_BEARER = re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/=-]{8,})")
# A JWT the registry does not name (minted where the harness never looked, or cut short by a
# tool): every JWS header starts with '{"', i.e. "eyJ", so even a truncated one is recognised.
_JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*)*")
UNREGISTERED_JWT = "[unregistered-jwt]"

# Body fields that carry credentials, and the kind each is registered as.
CREDENTIAL_FIELDS: Mapping[str, str] = {
    "permit": "permit",
    "requestKey": "request-key",
    "launchCode": "launch-code",
}


class SecretRegistry:
    """Remembers secret values and replaces them in text with numbered markers.

    Matching is a scan over the text with the values indexed by their first characters, so its
    cost grows with the text, not with the thousands of secrets a long run registers (one regex
    alternation of them all took a third of a second to compile and rebuilt on every new key).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._markers: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        # first MIN_SECRET_LENGTH chars -> (value, marker, is_prefix), whole values longest first
        self._index: dict[str, list[tuple[str, str, bool]]] | None = None

    def add(self, value: str | None, kind: str) -> None:
        """Register ``value`` (and its URL-encoded form) as a secret of ``kind``."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if value in self._markers:
                return
            self._counts[kind] = self._counts.get(kind, 0) + 1
            marker = f"[{kind}#{self._counts[kind]}]"
            self._markers[value] = marker
            encoded = quote(value, safe="")
            if encoded != value:
                self._markers.setdefault(encoded, marker)
            self._index = None

    def values(self) -> list[str]:
        with self._lock:
            return list(self._markers)

    def __contains__(self, value: object) -> bool:
        return value in self._markers

    def _built_index(self) -> dict[str, list[tuple[str, str, bool]]]:
        with self._lock:
            if self._index is None:
                # Whole values first, longest first, so a secret that contains another is
                # replaced whole; then long values by their prefix, for truncated copies. Only
                # distinctive prefixes: JWTs of one issuer share their header, so a JWT prefix
                # would name an unrelated token; truncated JWTs are caught by shape.
                ordered = sorted(self._markers, key=len, reverse=True)
                counts = Counter(v[:PREFIX_LENGTH] for v in ordered)
                entries = [(v, self._markers[v], False) for v in ordered] + [
                    (v[:PREFIX_LENGTH], self._markers[v], True)
                    for v in ordered
                    if len(v) >= 2 * PREFIX_LENGTH
                    and counts[v[:PREFIX_LENGTH]] == 1
                    and not v.startswith("eyJ")
                ]
                index: dict[str, list[tuple[str, str, bool]]] = {}
                for entry in entries:
                    index.setdefault(entry[0][:MIN_SECRET_LENGTH], []).append(entry)
                self._index = index
            return self._index

    def _replace_registered(self, text: str) -> str:
        index = self._built_index()
        if not index:
            return text
        out: list[str] = []
        done = i = 0
        last_start = len(text) - MIN_SECRET_LENGTH
        while i <= last_start:
            for value, marker, is_prefix in index.get(text[i : i + MIN_SECRET_LENGTH], ()):
                if text.startswith(value, i):
                    end = i + len(value)
                    if is_prefix:
                        end = _TOKEN_TAIL.match(text, end).end()  # type: ignore[union-attr]
                    out += [text[done:i], marker]
                    done = i = end
                    break
            else:
                i += 1
        return "".join([*out, text[done:]])

    def redact(self, text: str) -> str:
        """Replace every registered secret, then bearer, query and JWT-shaped credentials."""
        text = self._replace_registered(text)
        text = _JWT_SHAPE.sub(UNREGISTERED_JWT, text)
        text = _BEARER.sub(lambda m: m.group(1) + _shape_marker(m.group(2)), text)
        return _QUERY_SECRET.sub(lambda m: m.group(1) + _shape_marker(m.group(2)), text)

    def found_in(self, text: str, exclude: Iterable[str] = ()) -> list[str]:
        """Markers of the registered secrets that occur in ``text`` (minus ``exclude``)."""
        skip = set(exclude)
        return sorted({m for v, m in list(self._markers.items()) if v not in skip and v in text})


def _shape_marker(value: str) -> str:
    # Already-redacted markers stay as they are.
    if value.startswith("[") and value.endswith("]"):
        return value
    return "[redacted]"


# One registry per process: pytest-xdist workers each have their own, and each redacts its output.
REGISTRY = SecretRegistry()


def redact(text: str) -> str:
    """Redact ``text`` with the process-wide registry."""
    return REGISTRY.redact(text)


def register_credentials(
    body: object, next_key: str | None = None, secrets: SecretRegistry = REGISTRY
) -> None:
    """Register every credential an answer carries, the moment it arrives.

    ``body`` is the parsed JSON body (anything else is ignored): its credential fields and the
    presigned upload targets of an initialised run. ``next_key`` is the answer's next-request-key
    header. Taking the parsed body rather than a response serves every kind of answer the
    harness handles (HTTP client responses and race bursts alike).
    """
    secrets.add(next_key, "request-key")
    if not isinstance(body, dict):
        return
    for name, kind in CREDENTIAL_FIELDS.items():
        value = body.get(name)
        if isinstance(value, str):
            secrets.add(value, kind)
    uploads = body.get("uploads")
    if isinstance(uploads, dict):
        for url in uploads.values():
            register_presigned_url(str(url), secrets)


def register_presigned_url(url: str, secrets: SecretRegistry = REGISTRY) -> None:
    """Register what makes a presigned URL a credential: its query values, not its origin/path.

    The scheme, host, port and path stay readable (an origin is not a secret, and a report that
    hides where the harness sent a request is useless); the signature and every other query
    value are redacted. Registering the whole URL would also make its first characters, i.e.
    the target's own origin, a "truncated secret" and redact it everywhere.
    """
    for value in parse_qs(urlsplit(url).query, keep_blank_values=False).values():
        for item in value:
            if not item.isdigit():  # expiry stamps and sizes are not credentials
                secrets.add(item, "presigned-url-query")
