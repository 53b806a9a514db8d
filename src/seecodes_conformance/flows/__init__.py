"""The shared protocol steps every suite uses: minting, exchanging, runs, progress, boards."""

from seecodes_conformance.flows.data import SAMPLE_PROGRESS, SAMPLE_SNAPSHOT
from seecodes_conformance.flows.jira import JIRA_APP_ROUTES, JiraCall, route_id
from seecodes_conformance.flows.launch import (
    LAUNCHER_PATH,
    LaunchLink,
    launcher_page_text,
    launcher_redirects,
)
from seecodes_conformance.flows.runs import RUN_STATUSES, SAMPLE_LIST_MD, SETTLED, Run
from seecodes_conformance.flows.steps import ProtocolSteps

__all__ = [
    "JIRA_APP_ROUTES",
    "LAUNCHER_PATH",
    "RUN_STATUSES",
    "SAMPLE_LIST_MD",
    "SAMPLE_PROGRESS",
    "SAMPLE_SNAPSHOT",
    "SETTLED",
    "JiraCall",
    "LaunchLink",
    "ProtocolSteps",
    "Run",
    "launcher_page_text",
    "launcher_redirects",
    "route_id",
]
