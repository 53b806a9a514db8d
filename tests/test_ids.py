"""Run-scoped ids: fresh per run and per worker, and shaped like Jira keys."""

import re

from seecodes_conformance.ids import IdFactory, new_run_prefix


def test_run_prefix_shape() -> None:
    assert re.fullmatch(r"SCC[A-Z]{3}", new_run_prefix())


def test_projects_are_unique_and_workers_disjoint() -> None:
    gw0, gw1 = IdFactory("SCCABC", "gw0"), IdFactory("SCCABC", "gw1")
    a = {gw0.project() for _ in range(100)}
    b = {gw1.project() for _ in range(100)}
    assert len(a) == len(b) == 100
    assert not a & b
    assert all(re.fullmatch(r"SCCABC[01][A-Z]{1,2}", p) for p in a | b)


def test_task_ids_are_jira_keys_inside_the_prefix() -> None:
    task = IdFactory("SCCABC").task(number=7)
    assert task.project_id.startswith("SCCABC")
    assert task.task_id == f"{task.project_id}-7"
