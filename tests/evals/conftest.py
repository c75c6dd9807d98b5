from __future__ import annotations

import pytest
from fastapi import FastAPI

from hub.jobs.dispatch import RecordingDispatcher


@pytest.fixture
def sent(app: FastAPI) -> RecordingDispatcher:
    recorder = RecordingDispatcher()
    app.state.job_dispatcher = recorder
    return recorder
