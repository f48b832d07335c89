"""Staff sign-in and sessions.

- ``init_app(app)``: Flask-Login, the sign-in blueprint (``/auth/...``) and the session
  guard that runs before every request (deny unless signed in; timeouts; revocation). The
  ``flask staff`` commands are in ``dashboard.cli.staff``.
- For views and services: ``current_staff()``, ``current_role()``, ``current_actor()`` from
  ``dashboard.auth.current``; ``PUBLIC_ENDPOINTS`` from ``dashboard.auth.sessions``.

Nothing here is imported at package import time beyond what init_app needs, because services
import ``dashboard.services.staff.passwords`` / ``dashboard.services.staff.totp``.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from flask_login import LoginManager

    from dashboard.auth import sessions, views
    from dashboard.auth.current import load_signed_in_staff

    login_manager = LoginManager()
    login_manager.login_view = "auth.sign_in"
    # Flask-Login's own checks are not ours: sessions.guard decides who gets in.
    login_manager.session_protection = None
    login_manager.user_loader(load_signed_in_staff)
    login_manager.init_app(app)
    app.register_blueprint(views.bp)
    # Runs before CSRFProtect's check (registered later), so an anonymous POST is sent to
    # sign-in rather than told about tokens.
    app.before_request(sessions.guard)
