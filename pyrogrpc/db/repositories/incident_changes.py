"""incident_changes reads of the WatchIncidents hub (domain/incident_watch.py): the rows after a
cursor, and the incidents they describe as they are now."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...domain.read_models import IncidentChangeRow
from ..models import Incident, IncidentChange, table_of

_changes = table_of(IncidentChange)
_CHANGE_COLUMNS = select(
    _changes.c.id, _changes.c.incident_id, _changes.c.group_id, _changes.c.kind, _changes.c.change_time
)
if tuple(_CHANGE_COLUMNS.selected_columns.keys()) != IncidentChangeRow._fields:
    raise RuntimeError("IncidentChangeRow must list the columns of _CHANGE_COLUMNS in order")


class IncidentChangeRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def after(
        self, change_id: int, *, up_to: int | None = None, group_id: int | None = None, limit: int = 500
    ) -> list[IncidentChangeRow]:
        """Changes with `change_id < id <= up_to`, oldest first (on the primary key, or on
        ix_incident_changes_group_id_id for one group)."""
        query = _CHANGE_COLUMNS.where(_changes.c.id > change_id)
        if up_to is not None:
            query = query.where(_changes.c.id <= up_to)
        if group_id is not None:
            query = query.where(_changes.c.group_id == group_id)
        result = await self.session.execute(query.order_by(_changes.c.id).limit(limit))
        return list(map(IncidentChangeRow._make, result.all()))

    async def incidents(self, incident_ids: Sequence[int]) -> list[Incident]:
        """The incidents of these ids that still exist (a deleted group takes its incidents along)."""
        if not incident_ids:
            return []
        query = select(Incident).where(Incident.id.in_(set(incident_ids)))
        return list((await self.session.execute(query)).scalars().all())
