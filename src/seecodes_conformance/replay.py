"""Seeds of generated inputs and the commands that replay a failure.

Every failure the harness reports ends with a command a person can paste: the same target (or
the same bundled engine faults and variants), the same profile, the same seed. The fuzz suite,
the state machine and the report all build that command here, so they cannot drift apart.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from seecodes_conformance.cli import PROGRAM, installed
from seecodes_conformance.ids import seed_of
from seecodes_conformance.profiles import Profile
from seecodes_conformance.redaction import redact
from seecodes_conformance.settings import Settings

__all__ = ["choose_seed", "replay_command"]


def choose_seed(
    given: int | None, profile: Profile, run_prefix: str, *, derandomized: int | None = None
) -> int:
    """The seed a generator uses: the one given, else the profile's fixed seed, else (for a
    derandomized profile, when the generator has one) its own fixed seed, else one derived from
    the run prefix, so every xdist worker agrees on it without plumbing."""
    if given is not None:
        return given
    if profile.seed is not None:
        return profile.seed
    if derandomized is not None and profile.derandomize:
        return derandomized
    return seed_of(run_prefix)


def replay_command(
    settings: Settings, selection: str, options: Mapping[str, object] | None = None
) -> str:
    """``pytest SELECTION`` against the same target with the same profile and credentials source,
    plus ``options`` (a seed); redacted, so it can go into any report. From an installed copy
    the program is ``seecodes-conformance``: there no ini file or ``suites/`` folder tells a plain
    ``pytest`` what to run, and the command takes the same selection."""
    program = PROGRAM if installed() else "pytest"
    cmd = [program, selection, f"--profile={settings.profile.name}"]
    if settings.base_url:
        cmd.append(f"--base-url={settings.base_url}")
    else:
        cmd += [f"--engine-fault={fault}" for fault in settings.engine_faults]
        cmd += [f"--engine-variant={variant}" for variant in settings.engine_variants]
    if settings.forge_source != "test-issuer":
        cmd.append(f"--forge-source={settings.forge_source}")
    cmd += [f"{name}={value}" for name, value in (options or {}).items()]
    return redact(shlex.join(cmd))
