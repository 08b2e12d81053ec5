"""incidents: events of several cameras fused where their cones cross (issue 16)

Revision ID: 0005_incidents
Revises: 0004_media_dimensions
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_incidents"
down_revision = "0004_media_dimensions"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", _ID, nullable=False),
        sa.Column("group_id", _ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("uncertainty_m", sa.Float(), nullable=True),
        sa.Column("start_time", _TIME, nullable=False),
        sa.Column("last_seen_time", _TIME, nullable=False),
        sa.Column("create_time", _TIME, nullable=False),
        sa.Column("close_time", _TIME, nullable=True),
        sa.Column("positioned_time", _TIME, nullable=True),
        sa.Column("merged_into_id", _ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_incidents_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["incidents.id"],
            name=op.f("fk_incidents_merged_into_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_incidents_group_id"), "incidents", ["group_id"])
    op.create_index(op.f("ix_incidents_merged_into_id"), "incidents", ["merged_into_id"])
    op.create_index(op.f("ix_incidents_status_last_seen_time"), "incidents", ["status", "last_seen_time"])

    op.create_table(
        "incident_detachments",
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("create_time", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_detachments_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_incident_detachments_event_id_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("incident_id", "event_id", name=op.f("pk_incident_detachments")),
    )
    op.create_index(op.f("ix_incident_detachments_event_id"), "incident_detachments", ["event_id"])

    op.create_table(
        "incident_changes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("group_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("change_time", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_changes_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_incident_changes_group_id_groups"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_changes")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_incident_changes_incident_id"), "incident_changes", ["incident_id"])
    op.create_index(op.f("ix_incident_changes_group_id_id"), "incident_changes", ["group_id", "id"])

    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("incident_id", _ID, nullable=True))
        batch.create_foreign_key(
            batch.f("fk_events_incident_id_incidents"), "incidents", ["incident_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index(batch.f("ix_events_incident_id"), ["incident_id"])


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index(batch.f("ix_events_incident_id"))
        batch.drop_constraint(batch.f("fk_events_incident_id_incidents"), type_="foreignkey")
        batch.drop_column("incident_id")
    op.drop_table("incident_changes")
    op.drop_table("incident_detachments")
    op.drop_table("incidents")
