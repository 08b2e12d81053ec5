"""SetupService webhooks and notification recipients through a real channel."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from google.protobuf import field_mask_pb2

from pyrogrpc.db.models import Alert, Event, Notification
from pyronear.v1 import resources_pb2
from pyronear.v1 import setup_service_pb2 as pb
from tests.helpers import expect_status, violated_fields

Code = grpc.StatusCode
TELEGRAM = resources_pb2.NOTIFICATION_TYPE_TELEGRAM


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def recipient_request(group_id: int, **fields) -> pb.CreateRecipientRequest:
    values = {
        "group_id": group_id,
        "notification_type": TELEGRAM,
        "address": "-100123456",
        "subject_template": "Fire $event_id",
        "message_template": "Alert $alert_id from $device_name at $date",
        **fields,
    }
    return pb.CreateRecipientRequest(**values)


# --- webhooks --------------------------------------------------------------------------


async def test_webhook_crud(admin):
    webhook = (
        await admin.setup.CreateWebhook(
            pb.CreateWebhookRequest(callback="create_alert", url="https://hooks.example.org/fire?key=s3cret")
        )
    ).webhook
    assert (webhook.callback, webhook.url) == ("create_alert", "https://hooks.example.org/fire?key=s3cret")
    assert webhook.id > 0 and webhook.create_time.seconds > 0
    other = (
        await admin.setup.CreateWebhook(pb.CreateWebhookRequest(callback="create_alert", url="http://10.0.0.2:8080/x"))
    ).webhook
    get = pb.GetWebhookRequest(webhook_id=webhook.id)
    assert (await admin.setup.GetWebhook(get)).webhook == webhook
    listed = (await admin.setup.ListWebhooks(pb.ListWebhooksRequest(page_size=1))).webhooks
    assert [w.id for w in listed] == [other.id]

    updated = (
        await admin.setup.UpdateWebhook(
            pb.UpdateWebhookRequest(
                webhook_id=webhook.id,
                webhook=resources_pb2.Webhook(url="https://new.example.org/", callback="ignored"),
                update_mask=mask("url"),
            )
        )
    ).webhook
    assert (updated.url, updated.callback) == ("https://new.example.org/", "create_alert")
    await admin.setup.DeleteWebhook(pb.DeleteWebhookRequest(webhook_id=webhook.id))
    await expect_status(admin.setup.GetWebhook(get), Code.NOT_FOUND)
    await expect_status(admin.setup.DeleteWebhook(pb.DeleteWebhookRequest(webhook_id=webhook.id)), Code.NOT_FOUND)
    await expect_status(
        admin.setup.UpdateWebhook(
            pb.UpdateWebhookRequest(
                webhook_id=webhook.id, webhook=resources_pb2.Webhook(url="https://a.org"), update_mask=mask("url")
            )
        ),
        Code.NOT_FOUND,
    )


BAD_WEBHOOKS = [
    ("", "https://example.org", {"callback"}),
    ("delete_alert", "https://example.org", {"callback"}),
    ("create_alert", "", {"url"}),
    ("create_alert", "ftp://example.org/x?key=s3cret", {"url"}),
    ("create_alert", "https://", {"url"}),
    ("create_alert", "example.org/hook", {"url"}),
    ("create_alert", "https://exa mple.org/", {"url"}),
    ("create_alert", "https://example.org:99999/", {"url"}),
    ("create_alert", "https://example.org/" + "x" * 2000, {"url"}),
    ("nope", "javascript:alert(1)", {"callback", "url"}),
]


async def test_webhook_input_is_checked(admin):
    for callback, url, fields in BAD_WEBHOOKS:  # one server for all cases: keeps the suite fast
        error = await expect_status(
            admin.setup.CreateWebhook(pb.CreateWebhookRequest(callback=callback, url=url)), Code.INVALID_ARGUMENT
        )
        assert violated_fields(error) == fields, (callback, url)
        assert "s3cret" not in error.details()  # webhook URLs may hold secrets: never echoed
    assert list((await admin.setup.ListWebhooks(pb.ListWebhooksRequest())).webhooks) == []


async def test_update_webhook_checks_input(admin):
    webhook = (
        await admin.setup.CreateWebhook(pb.CreateWebhookRequest(callback="create_alert", url="https://a.org"))
    ).webhook

    def update(fields, *paths):
        return admin.setup.UpdateWebhook(
            pb.UpdateWebhookRequest(
                webhook_id=webhook.id, webhook=resources_pb2.Webhook(**fields), update_mask=mask(*paths)
            )
        )

    error = await expect_status(
        update({"url": "mailto:x@y.org", "callback": "other"}, "url", "callback"), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"webhook.url", "webhook.callback"}
    error = await expect_status(update({"url": "https://b.org"}), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"update_mask"}
    error = await expect_status(update({"id": 5}, "id"), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"update_mask"}
    assert (await admin.setup.GetWebhook(pb.GetWebhookRequest(webhook_id=webhook.id))).webhook == webhook


async def test_webhooks_and_recipients_are_admin_only(admin):
    user_api, user = await admin.new_user()
    for call in (
        user_api.setup.CreateWebhook(pb.CreateWebhookRequest(callback="create_alert", url="https://a.org")),
        user_api.setup.ListWebhooks(pb.ListWebhooksRequest()),
        user_api.setup.CreateRecipient(recipient_request(user.group_id)),
        user_api.setup.ListGroupRecipients(pb.ListGroupRecipientsRequest(group_id=user.group_id)),
    ):
        await expect_status(call, Code.PERMISSION_DENIED)


# --- recipients ------------------------------------------------------------------------


async def test_recipient_crud_and_group_listing(admin):
    group = await admin.create_group()
    other_group = await admin.create_group()
    recipient = (await admin.setup.CreateRecipient(recipient_request(group.id))).recipient
    assert (recipient.group_id, recipient.notification_type, recipient.address) == (group.id, TELEGRAM, "-100123456")
    assert recipient.message_template == "Alert $alert_id from $device_name at $date"
    second = (
        await admin.setup.CreateRecipient(recipient_request(group.id, subject_template="", address="42"))
    ).recipient
    foreign = (await admin.setup.CreateRecipient(recipient_request(other_group.id))).recipient

    get = pb.GetRecipientRequest(recipient_id=recipient.id)
    assert (await admin.setup.GetRecipient(get)).recipient == recipient
    in_group = await admin.setup.ListGroupRecipients(pb.ListGroupRecipientsRequest(group_id=group.id))
    assert [r.id for r in in_group.recipients] == [second.id, recipient.id]
    first_page = await admin.setup.ListGroupRecipients(pb.ListGroupRecipientsRequest(group_id=group.id, page_size=1))
    assert [r.id for r in first_page.recipients] == [second.id] and first_page.next_page_token
    everyone = {r.id for r in (await admin.setup.ListRecipients(pb.ListRecipientsRequest())).recipients}
    assert {recipient.id, second.id, foreign.id} <= everyone
    await expect_status(
        admin.setup.ListGroupRecipients(pb.ListGroupRecipientsRequest(group_id=999_999)), Code.NOT_FOUND
    )

    updated = (
        await admin.setup.UpdateRecipient(
            pb.UpdateRecipientRequest(
                recipient_id=recipient.id,
                recipient=resources_pb2.Recipient(
                    address="-100999", message_template="Fire! ${device_id} $$5", group_id=other_group.id
                ),
                update_mask=mask("address", "message_template"),
            )
        )
    ).recipient
    assert (updated.address, updated.message_template, updated.group_id) == (
        "-100999",
        "Fire! ${device_id} $$5",
        group.id,
    )
    await admin.setup.DeleteRecipient(pb.DeleteRecipientRequest(recipient_id=recipient.id))
    await expect_status(admin.setup.GetRecipient(get), Code.NOT_FOUND)
    await expect_status(
        admin.setup.DeleteRecipient(pb.DeleteRecipientRequest(recipient_id=recipient.id)), Code.NOT_FOUND
    )


async def test_create_recipient_checks_every_field(admin):
    error = await expect_status(
        admin.setup.CreateRecipient(
            pb.CreateRecipientRequest(group_id=0, address=" ", subject_template="$unknown", message_template="")
        ),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {
        "group_id",
        "notification_type",
        "address",
        "subject_template",
        "message_template",
    }
    group = await admin.create_group()
    await expect_status(admin.setup.CreateRecipient(recipient_request(999_999)), Code.NOT_FOUND)
    await expect_status(
        admin.setup.CreateRecipient(recipient_request(group.id, notification_type=9)), Code.INVALID_ARGUMENT
    )


BAD_TEMPLATES = [
    ("Price: 5$", "'$' at the end"),
    ("${alert_id", "without a valid name"),
    ("$ alert", "not followed by a name"),
    ("$secret_token", "unknown template placeholder"),
    ("x" * 4097, "at most 4096"),
    ("nul \x00 byte", "NUL"),
]


async def test_recipient_templates_are_validated(admin):
    group = await admin.create_group()
    recipient = (await admin.setup.CreateRecipient(recipient_request(group.id))).recipient
    for template, problem in BAD_TEMPLATES:  # one server for all cases: keeps the suite fast
        error = await expect_status(
            admin.setup.CreateRecipient(recipient_request(group.id, message_template=template)), Code.INVALID_ARGUMENT
        )
        assert violated_fields(error) == {"message_template"} and problem in error.details(), template
        error = await expect_status(
            admin.setup.UpdateRecipient(
                pb.UpdateRecipientRequest(
                    recipient_id=recipient.id,
                    recipient=resources_pb2.Recipient(subject_template=template),
                    update_mask=mask("subject_template"),
                )
            ),
            Code.INVALID_ARGUMENT,
        )
        assert violated_fields(error) == {"recipient.subject_template"}, template


async def test_update_recipient_checks_input(admin):
    group = await admin.create_group()
    recipient = (await admin.setup.CreateRecipient(recipient_request(group.id))).recipient

    def update(fields, *paths, recipient_id=recipient.id):
        return admin.setup.UpdateRecipient(
            pb.UpdateRecipientRequest(
                recipient_id=recipient_id, recipient=resources_pb2.Recipient(**fields), update_mask=mask(*paths)
            )
        )

    error = await expect_status(update({"address": ""}, "address", "notification_type"), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"recipient.notification_type"}
    error = await expect_status(
        update({"address": "", "message_template": " "}, "address", "message_template"), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"recipient.address", "recipient.message_template"}
    error = await expect_status(update({"address": "12\x003"}, "address"), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"recipient.address"}
    error = await expect_status(update({"group_id": group.id}, "group_id"), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"update_mask"}
    await expect_status(update({"address": "1"}, "address", recipient_id=999_999), Code.NOT_FOUND)
    assert (await admin.setup.GetRecipient(pb.GetRecipientRequest(recipient_id=recipient.id))).recipient == recipient


async def test_deleting_a_notified_recipient_keeps_the_notification_log(admin, server):
    _, owner = await admin.new_user()
    _, device = await admin.new_device(owner.id)
    recipient = (await admin.setup.CreateRecipient(recipient_request(device.group_id))).recipient
    async with server.uow() as uow:
        event = await uow.events.add(
            Event(group_id=device.group_id, type="wildfire", lat=1.0, lon=2.0, start_time=datetime.now(UTC))
        )
        alert = await uow.alerts.add(
            Alert(device_id=device.id, group_id=device.group_id, event_id=event.id, azimuth=10.0, lat=1.0, lon=2.0)
        )
        notification = await uow.notifications.add(
            Notification(alert_id=alert.id, recipient_id=recipient.id, subject="s", message="m")
        )
        await uow.commit()
    await admin.setup.DeleteRecipient(pb.DeleteRecipientRequest(recipient_id=recipient.id))
    async with server.uow() as uow:
        kept = await uow.notifications.get(notification.id)
    assert kept is not None and kept.recipient_id is None
