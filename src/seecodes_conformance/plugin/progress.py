"""Progress lines on the terminal: the writer ``PROGRESS`` and the run registry write through."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import nullcontext

import pytest

__all__ = ["progress_writer"]


def progress_writer(config: pytest.Config) -> Callable[[str], None]:
    """Where a long wait says how it is going: the terminal, past pytest's capture.

    The controller writes a line through the terminal reporter (on a line of its own, after
    any ``-q`` dots); an xdist worker has no terminal, so it writes to the stderr it inherited
    from the controller, a line of its own prefixed with the worker's id.
    """
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    worker = getattr(config, "workerinput", None)

    def write(line: str) -> None:
        suspended = capture.global_and_fixture_disabled() if capture is not None else nullcontext()
        with suspended:
            if worker is None and reporter is not None:
                if config.get_terminal_writer().width_of_current_line:  # -q dots so far
                    reporter.write("\n")
                reporter.write_line(line)
            else:
                prefix = f"[{worker['workerid']}] " if worker is not None else ""
                stream = sys.__stderr__
                if stream is not None:
                    # The controller may be amid a line of -q dots: start a line of our own.
                    stream.write(f"\n{prefix}{line}\n")
                    stream.flush()

    return write
