"""``pytest --help`` shows each harness option's default."""

from __future__ import annotations

import subprocess
import sys

from seecodes_conformance.settings import OPTIONS, _default_of
from suite_runner import ROOT


def test_every_option_with_a_default_states_it() -> None:
    silent = [
        opt.name
        for opt in OPTIONS
        if opt.default is not None and "default" not in opt.help + _default_of(opt)
    ]
    assert not silent, f"options whose --help hides their default: {silent}"


def test_help_shows_the_defaults() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    text = " ".join(done.stdout.split())  # argparse wraps the help
    assert done.returncode == 0, done.stderr
    assert "for a credential to expire (default 15) [env SEECODES_MAX_WAIT]" in text
    assert "where Forge tokens come from (default test-issuer)" in text
    assert "(default ci) [env SEECODES_PROFILE]" in text
