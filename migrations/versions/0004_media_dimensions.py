"""media width and height: the pixels of an uploaded image, read from its header

Revision ID: 0004_media_dimensions
Revises: 0003_request_digests
Create Date: 2026-12-07 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_media_dimensions"
down_revision = "0003_request_digests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: rows uploaded before this revision keep NULL (dimensions unknown).
    with op.batch_alter_table("media") as batch:
        batch.add_column(sa.Column("width", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("height", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media") as batch:
        batch.drop_column("height")
        batch.drop_column("width")
