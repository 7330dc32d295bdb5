"""What operators see of the deliveries: gauges at /notifications/metrics, and `hearth
deliveries` listing what is waiting or failed with its last error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from hearth.cli import main
from services.notifications.model import EMAIL, FAILED, NewDelivery, Outcome
from services.notifications.store import Store


def queue(stack, key: str, due_in: timedelta = timedelta(0)) -> None:
    service = stack.services["notifications"]
    now = datetime.now(UTC)
    with Store(service.engine, service.outbox).begin() as uow:
        uow.queue_delivery(
            NewDelivery(
                key,
                channel=EMAIL,
                kind="sign-in",
                recipient=f"{key}@example.org",
                context={},
                due_at=now + due_in - timedelta(minutes=5),
            ),
            now - timedelta(minutes=5),
        )


def fail(stack, key: str, error: str) -> None:
    service = stack.services["notifications"]
    now = datetime.now(UTC)
    with Store(service.engine, service.outbox).begin() as uow:
        [delivery] = [d for d in uow.claim_due(EMAIL, now, 10, now) if d.key == key]
        uow.record_attempt(delivery, Outcome(FAILED, None, error), datetime.now(UTC))


def test_the_metrics_count_deliveries_by_state_and_show_how_long_the_oldest_waited(client, stack):
    queue(stack, "waiting")
    queue(stack, "refused")
    fail(stack, "refused", "550 5.1.1 no such user")

    metrics = client.get("/notifications/metrics").text

    assert 'hearth_notification_deliveries{channel="email",state="queued"} 1.0' in metrics
    assert 'hearth_notification_deliveries{channel="email",state="failed"} 1.0' in metrics
    [overdue] = [
        line for line in metrics.splitlines() if line.startswith("hearth_notification_overdue")
    ]
    assert 290 < float(overdue.split()[-1]) < 400  # queued five minutes ago


def test_hearth_deliveries_lists_what_is_waiting_or_failed_with_the_reason(stack, config):
    queue(stack, "waiting")
    queue(stack, "refused")
    fail(stack, "refused", "550 5.1.1 no such user")
    env = {
        "HEARTH_DATA": str(config.data_dir),
        "HEARTH_SECRET_KEY": config.secret_key,
        "NOTIFICATIONS_DATABASE_URL": config.database_url("notifications"),
        "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672//",
    }

    listed = CliRunner().invoke(main, ["deliveries"], env=env)
    failed = CliRunner().invoke(main, ["deliveries", "--state", "failed"], env=env)

    assert listed.exit_code == 0, listed.output
    assert "waiting@example.org" in listed.stdout and "refused@example.org" in listed.stdout
    assert failed.stdout.count("\n") == 1
    assert "failed" in failed.stdout and "550 5.1.1 no such user" in failed.stdout
