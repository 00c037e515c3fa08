"""The Celery worker entry point: `celery -A webapp.celery_worker worker -P solo` (project root on
PYTHONPATH). The app is built from the environment (DATABASE_URL, CELERY_BROKER_URL, SMTP_URL,
SECRET_KEY, CREDITDESK_INSTANCE; see webapp.config) and every task runs in its app context."""
from __future__ import annotations

from webapp import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
