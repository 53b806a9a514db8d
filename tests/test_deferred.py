"""The state file of deferred expiry checks: private, robust, and never a crash."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from seecodes_conformance.deferred import CLOCK_SKEW_S, SCHEMA, Deferred, StateFile, open_state

TARGET = "https://staging.example"


def _entry(kind: str = "launch-code", expires_at: float = 1000.0) -> Deferred:
    return Deferred(kind, "LC-EXPIRY", "code-s3cr3t-value", expires_at, 900.0, "SCCABC",
                    {"projectId": "SCCABC-P1", "taskId": "SCCABC-T1"})  # fmt: skip


def test_entries_survive_a_round_trip_in_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "state.json"
    state = StateFile(path, TARGET)
    state.add(_entry())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = StateFile(path, TARGET)
    assert again.entries == [_entry()] and again.message is None
    assert "s3cr3t" not in repr(again)


def test_an_entry_is_due_only_after_expiry_plus_the_clock_skew(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "s.json", TARGET)
    state.add(_entry(expires_at=1000.0))
    assert state.due("launch-code", now=1000.0 + CLOCK_SKEW_S - 1) == []
    assert state.pending("launch-code", now=1000.0 + CLOCK_SKEW_S - 1) == [_entry()]
    assert state.due("launch-code", now=1000.0 + CLOCK_SKEW_S) == [_entry()]
    assert state.due("permit", now=10**10) == []
    state.settle(state.due("launch-code", now=10**10))
    assert StateFile(tmp_path / "s.json", TARGET).entries == []


def test_missing_corrupt_or_foreign_files_give_one_message_and_a_fresh_file(
    tmp_path: Path,
) -> None:
    missing = StateFile(tmp_path / "none.json", TARGET)
    assert missing.entries == [] and "does not exist yet" in (missing.message or "")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{not json")
    state = StateFile(corrupt, TARGET)
    assert state.entries == [] and "is corrupt" in (state.message or "")
    state.add(_entry())  # the fresh file replaces the corrupt one
    assert json.loads(corrupt.read_text())["schema"] == SCHEMA
    foreign = StateFile(corrupt, "https://other.example")
    assert foreign.entries == [] and "belongs to another target" in (foreign.message or "")
    wrong_kind = tmp_path / "kind.json"
    wrong_kind.write_text(json.dumps({"schema": SCHEMA, "target": TARGET,
                                      "entries": [{"kind": "cookie"}]}))  # fmt: skip
    assert "is corrupt" in (StateFile(wrong_kind, TARGET).message or "")


def test_the_run_opens_the_file_once_and_renews_a_foreign_one(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    StateFile(path, "https://other.example").add(_entry())
    state, message = open_state(path, TARGET, fresh=True)
    assert state is not None and "belongs to another target" in (message or "")
    assert json.loads(path.read_text())["target"] == TARGET and state.entries == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert open_state(path, TARGET, fresh=False)[1] is None  # a worker sees a clean file
    assert open_state(None, TARGET, fresh=True) == (None, None)
    ignored, why = open_state(path, None, fresh=True)
    assert ignored is None and "--base-url" in (why or "")


def test_workers_adding_to_one_file_lose_nothing(tmp_path: Path) -> None:
    """Two handles on one file (two xdist workers): each add re-reads under the lock."""
    path = tmp_path / "state.json"
    first, second = StateFile(path, TARGET), StateFile(path, TARGET)
    first.add(_entry(expires_at=1.0))
    second.add(_entry(expires_at=2.0))
    assert sorted(e.expires_at for e in StateFile(path, TARGET).entries) == [1.0, 2.0]
    assert first.claim_due("launch-code", now=10**10) != []
    assert second.claim_due("launch-code", now=10**10) == []  # each entry is presented once
    assert StateFile(path, TARGET).entries == []
