"""WSGI entry point: ``gunicorn wsgi:app``."""

import sys

from config import ConfigError
from dashboard import create_app

try:
    app = create_app()
except ConfigError as exc:
    sys.exit(f"Backoffice cannot start: {exc}")
