"""The shared protocol steps every suite uses: minting, exchanging, runs, progress, boards."""

from seecodes_conformance.flows.steps import (
    JIRA_APP_ROUTES,
    RUN_STATUSES,
    SAMPLE_LIST_MD,
    SAMPLE_PROGRESS,
    SAMPLE_SNAPSHOT,
    SETTLED,
    JiraCall,
    LaunchLink,
    Protocol,
    Run,
    route_id,
)

__all__ = [
    "JIRA_APP_ROUTES",
    "RUN_STATUSES",
    "SAMPLE_LIST_MD",
    "SAMPLE_PROGRESS",
    "SAMPLE_SNAPSHOT",
    "SETTLED",
    "JiraCall",
    "LaunchLink",
    "Protocol",
    "Run",
    "route_id",
]
