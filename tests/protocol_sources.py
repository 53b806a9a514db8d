"""The texts the catalog quotes: the protocol and the certification profile, as the repository
keeps them (``contract/protocol/``), so the verbatim-quote checks run in every clone.

``SEECODES_PROTOCOL_PATH`` / ``SEECODES_PROFILE_PATH`` point the checks at another copy (a newer
draft, say). ``tests/test_contract.py`` also proves the kept copies equal the originals wherever
those are at hand (the team's shared folder beside the repository).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PROTOCOL_NAME = "seecodes-engine-3.1.10.md"
PROFILE_NAME = "certification-profile.md"
KEPT = REPO_ROOT / "contract" / "protocol"
# Where the originals live beside a checkout of the team's workspace (absent in a bare clone).
ORIGINALS = {
    PROTOCOL_NAME: REPO_ROOT.parent / "shared" / "protocol" / PROTOCOL_NAME,
    PROFILE_NAME: REPO_ROOT.parent / "shared" / PROFILE_NAME,
}


def protocol_path() -> Path:
    configured = os.environ.get("SEECODES_PROTOCOL_PATH")
    return Path(configured) if configured else KEPT / PROTOCOL_NAME


def profile_path() -> Path:
    configured = os.environ.get("SEECODES_PROFILE_PATH")
    return Path(configured) if configured else KEPT / PROFILE_NAME
