"""WatchIncidents: the incident_changes table streamed by the watch hub (domain/watch.py).

Every change of an incident (opened, event added, positioned, position changed, event
detached, merged, closed) is a row of incident_changes, inserted in the transaction that
makes it (domain/incidents.py): the row's id orders the stream and is its resume point, and
the hub's replay, gap-free prefix and commit horizon work on it as they do on alert ids.

A streamed change carries the incident as it is when the hub reads the change (one read per
batch, shared by every stream): a stream may see an incident's later state with an earlier
change, and the later changes follow. Wake-ups: this process's commits of incident_changes
rows (`tables_changed`, db/session.py reports Core INSERTs), other replicas' through their
NOTIFY on their own channel, and the hub's safety poll.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .access_check import AccessCheck
from .incidents import IncidentView, view_of
from .ports import CommitHorizon, RemoteWakeups, UnitOfWork, UnitOfWorkFactory
from .read_models import IncidentEvent
from .watch import WatchHub, WatchTuning

TABLE = "incident_changes"


@dataclass(frozen=True, slots=True)
class WatchedIncidentChange:
    """One incident change of the stream."""

    id: int  # the change id
    group_id: int
    kind: str  # "opened", "event_added", "positioned", ... (IncidentChange.Kind, lower case)
    change_time: datetime
    incident: IncidentView | None  # None: the incident is gone (its group was deleted)


class IncidentChangeFeed:
    noun = "incident change"
    id_field = "change_id"

    async def after(
        self, uow: UnitOfWork, after_id: int, *, up_to: int | None, group_id: int | None, limit: int
    ) -> Sequence[WatchedIncidentChange]:
        changes = await uow.incident_changes.after(after_id, up_to=up_to, group_id=group_id, limit=limit)
        if not changes:
            return []
        incidents = {
            incident.id: incident
            for incident in await uow.incident_changes.incidents([change.incident_id for change in changes])
        }
        events: defaultdict[int | None, list[IncidentEvent]] = defaultdict(list)
        for event in await uow.incidents.events_of(list(incidents)):
            events[event.incident_id].append(event)
        views = {incident_id: view_of(incident, events[incident_id]) for incident_id, incident in incidents.items()}
        return [
            WatchedIncidentChange(
                change.id, change.group_id, change.kind, change.change_time, views.get(change.incident_id)
            )
            for change in changes
        ]

    def horizon(self, uow: UnitOfWork) -> CommitHorizon:
        return uow.incident_change_horizon

    def streamed(self, row: WatchedIncidentChange) -> bool:
        return row.incident is not None


class IncidentWatchHub(WatchHub[WatchedIncidentChange]):
    """The hub of incident_changes."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        remote: RemoteWakeups | None = None,
        accounts: AccessCheck | None = None,
        tuning: WatchTuning = WatchTuning(),
    ):
        super().__init__(uow, IncidentChangeFeed(), remote=remote, accounts=accounts, tuning=tuning)

    def tables_changed(self, tables: frozenset[str]) -> None:
        """After each local commit (server.py): one that inserted incident changes wakes the hub."""
        if TABLE in tables:
            self.rows_committed()
