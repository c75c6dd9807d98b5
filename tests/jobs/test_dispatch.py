"""The API process prepares its job sender in the background at start-up."""

from __future__ import annotations

from pathlib import Path

from hub.jobs.dispatch import warm_up
from hub.kit.settings import Settings
from workers import celery_app


def test_warm_up_builds_the_sender_the_first_send_uses(settings: Settings,
                                                       tmp_path: Path) -> None:
    own = settings.model_copy(update={"data_dir": tmp_path / "data", "broker_url": None})
    thread = warm_up(own)
    thread.join(60)
    assert not thread.is_alive()
    built = celery_app._SENDERS  # the cache `sender` fills
    warmed = [app for key, app in built.items() if key[1] == str(own.data_dir.resolve())]
    assert len(warmed) == 1
    assert celery_app.sender(own) is warmed[0]
    # The embedded broker's queue folder exists before any job was sent.
    assert (own.data_dir / "broker" / "queue").is_dir()
