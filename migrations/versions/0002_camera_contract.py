"""camera contract: poses, occlusion masks, detection boxes on alerts, events as sequences, labels

Revision ID: 0002_camera_contract
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_camera_contract"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "poses",
        sa.Column("id", _ID, nullable=False),
        sa.Column("device_id", _ID, nullable=False),
        sa.Column("azimuth", sa.Float(), nullable=False),
        sa.Column("patrol_index", sa.Integer(), nullable=True),
        sa.Column("image_media_id", _ID, nullable=True),
        sa.Column("image_update_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_poses_device_id_devices"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["image_media_id"], ["media.id"], name=op.f("fk_poses_image_media_id_media"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poses")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_poses_device_id"), "poses", ["device_id"])
    op.create_index(op.f("ix_poses_image_media_id"), "poses", ["image_media_id"])
    op.create_table(
        "occlusion_masks",
        sa.Column("id", _ID, nullable=False),
        sa.Column("pose_id", _ID, nullable=False),
        sa.Column("x_min", sa.Float(), nullable=False),
        sa.Column("y_min", sa.Float(), nullable=False),
        sa.Column("x_max", sa.Float(), nullable=False),
        sa.Column("y_max", sa.Float(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pose_id"], ["poses.id"], name=op.f("fk_occlusion_masks_pose_id_poses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_occlusion_masks")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_occlusion_masks_pose_id"), "occlusion_masks", ["pose_id"])

    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("device_id", _ID, nullable=True))
        batch.add_column(sa.Column("pose_id", _ID, nullable=True))
        batch.add_column(sa.Column("azimuth", sa.Float(), nullable=True))
        batch.add_column(sa.Column("cone_angle", sa.Float(), nullable=True))
        batch.add_column(sa.Column("max_confidence", sa.Float(), nullable=True))
        batch.add_column(sa.Column("last_seen_time", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("latest_boxes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("label", sa.String(length=24), nullable=True))
        batch.add_column(sa.Column("labeled_by_user_id", _ID, nullable=True))
        batch.add_column(sa.Column("label_time", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_events_device_id_devices"), "devices", ["device_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_foreign_key(batch.f("fk_events_pose_id_poses"), "poses", ["pose_id"], ["id"], ondelete="SET NULL")
        batch.create_foreign_key(
            batch.f("fk_events_labeled_by_user_id_users"), "users", ["labeled_by_user_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index(batch.f("ix_events_device_id_last_seen_time"), ["device_id", "last_seen_time"])
        batch.create_index(batch.f("ix_events_pose_id"), ["pose_id"])
        batch.create_index(batch.f("ix_events_labeled_by_user_id"), ["labeled_by_user_id"])

    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("event_id", existing_type=_ID, nullable=True)
        batch.add_column(sa.Column("pose_id", _ID, nullable=True))
        batch.add_column(sa.Column("capture_time", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("boxes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("suppressed", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.create_foreign_key(batch.f("fk_alerts_pose_id_poses"), "poses", ["pose_id"], ["id"], ondelete="SET NULL")
        batch.create_index(batch.f("ix_alerts_pose_id"), ["pose_id"])


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index(batch.f("ix_alerts_pose_id"))
        batch.drop_constraint(batch.f("fk_alerts_pose_id_poses"), type_="foreignkey")
        for column in ("suppressed", "boxes", "capture_time", "pose_id"):
            batch.drop_column(column)
        batch.alter_column("event_id", existing_type=_ID, nullable=False)
    with op.batch_alter_table("events") as batch:
        for index in ("ix_events_labeled_by_user_id", "ix_events_pose_id", "ix_events_device_id_last_seen_time"):
            batch.drop_index(batch.f(index))
        for fk in ("fk_events_labeled_by_user_id_users", "fk_events_pose_id_poses", "fk_events_device_id_devices"):
            batch.drop_constraint(batch.f(fk), type_="foreignkey")
        for column in (
            "label_time",
            "labeled_by_user_id",
            "label",
            "latest_boxes",
            "last_seen_time",
            "max_confidence",
            "cone_angle",
            "azimuth",
            "pose_id",
            "device_id",
        ):
            batch.drop_column(column)
    op.drop_table("occlusion_masks")
    op.drop_table("poses")
