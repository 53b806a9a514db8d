"""Last line of defence before anything is written: the registry's redaction plus JWT shapes.

Workers redact with their own registry before their reports leave them; the controller applies
this again with its registry, and replaces anything still shaped like a JWT (a credential the
harness never saw minted) with a marker.
"""

from __future__ import annotations

import re

from seecodes_conformance.secrets import redact

# header.payload.signature, each base64url; the header of every JWS starts with '{"' = eyJ.
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
UNREGISTERED_JWT = "[unregistered-jwt]"


def scrub(text: str) -> str:
    return JWT_SHAPE.sub(UNREGISTERED_JWT, redact(text))
