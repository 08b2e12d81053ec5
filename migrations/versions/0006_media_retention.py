"""media retention: media.purge_time, the unpurged-by-age index, and job_leases (one purger at a time)

Revision ID: 0006_media_retention
Revises: 0005_incidents
Create Date: 2026-12-07 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_media_retention"
down_revision = "0005_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: every existing media keeps its content (NULL = not purged).
    with op.batch_alter_table("media") as batch:
        batch.add_column(sa.Column("purge_time", sa.DateTime(timezone=True), nullable=True))
    # Partial: the purge scans unpurged media by age; purged history does not grow the index.
    op.create_index(
        "ix_media_unpurged_create_time",
        "media",
        ["create_time", "id"],
        unique=False,
        postgresql_where=sa.text("purge_time IS NULL"),
        sqlite_where=sa.text("purge_time IS NULL"),
    )
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )


def downgrade() -> None:
    op.drop_table("job_leases")
    op.drop_index("ix_media_unpurged_create_time", table_name="media")
    with op.batch_alter_table("media") as batch:
        batch.drop_column("purge_time")
