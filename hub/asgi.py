"""ASGI entry point for uvicorn/gunicorn: `hub.asgi:app`."""

from hub.app import create_app
from hub.jobs.dispatch import warm_up

app = create_app()
warm_up(app.state.settings)
