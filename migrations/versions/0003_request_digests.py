"""request digests: a reused request_id must carry the same request

Revision ID: 0003_request_digests
Revises: 0002_camera_contract
Create Date: 2026-12-07 05:40:00

Idempotency keys and uploaded media remember a SHA-256 of the request they served, so a
retry with another request under the same request_id is refused (REQUEST_ID_REUSED)
instead of answered with the first result. Existing rows keep NULL: they replay as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_request_digests"
down_revision = "0002_camera_contract"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_digest", sa.String(length=64), nullable=True))
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.add_column(sa.Column("upload_request_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_column("upload_request_digest")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("request_digest")
