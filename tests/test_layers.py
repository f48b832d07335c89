"""The layers keep their arrows pointing down: doors, then services, then models and core.

Every module is parsed, never imported, so a violation is found even in a function-level
import that no test happens to run. The rules:
- ``dashboard/services``: no doors (admin, auth, CLI, webhooks, media views), no
  ``flask.request`` and no ``current_app``: the doors read the configuration and pass
  settings as plain values;
- ``dashboard/core``: nothing of the application but core itself;
- ``dashboard/models``: no services;
- ``dashboard/permissions.py``: core only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dashboard"

# Doors: what calls services, so services must never call (or import) them.
DOORS = (
    "dashboard.admin",
    "dashboard.auth",
    "dashboard.cli",
    "dashboard.webhooks",
    "dashboard.media_views",
)
# The web request and the app object belong to the doors.
FLASK_GLOBALS = frozenset({"request", "current_app"})


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(*relative: str) -> list[Path]:
    found: list[Path] = []
    for name in relative:
        target = ROOT / name
        found.extend(sorted(target.rglob("*.py")) if target.is_dir() else [target])
    return found


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """Every module ``path`` imports (``from a import b`` yields ``a.b`` and ``a``), with
    its line, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, node.lineno
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno


def _flask_globals(path: Path) -> Iterator[tuple[str, int]]:
    """Reads of ``flask.request`` / ``current_app``: imported by name, or as attributes."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        # A bare ``request`` is often a local variable; ``current_app`` never is.
        if isinstance(node, ast.Name) and node.id == "current_app":
            yield node.id, node.lineno
        elif isinstance(node, ast.Attribute) and node.attr in FLASK_GLOBALS:
            if isinstance(node.value, ast.Name) and node.value.id == "flask":
                yield f"flask.{node.attr}", node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module == "flask":
            for alias in node.names:
                if alias.name in FLASK_GLOBALS:
                    yield f"flask.{alias.name}", node.lineno


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _is_door(name: str) -> bool:
    if any(_within(name, door) for door in DOORS):
        return True
    # stripe_cli, posts_cli, support_cli, ops.cli, auth.cli and whatever CLI module comes next.
    return name.startswith("dashboard.") and any(
        part == "cli" or part.endswith("_cli") for part in name.split(".")
    )


def _offences(paths: list[Path], forbidden) -> list[str]:  # noqa: ANN001
    offences = []
    for path in paths:
        for name, line in _imports(path):
            why = forbidden(name)
            if why:
                offences.append(f"{_module_name(path)} (line {line}) imports {name}: {why}")
    return sorted(set(offences))


def _service_import(name: str) -> str | None:
    if _is_door(name):
        return "services must not depend on a door (admin, auth, CLI, webhooks, media views)"
    if _within(name, "flask.request"):  # current_app: see _flask_globals
        return "services take plain values; only the doors read the request"
    return None


def _core_import(name: str) -> str | None:
    # dashboard.core.transaction learns its session through bind(), called by
    # dashboard.extensions, precisely so that core needs no exception here.
    if _within(name, "dashboard") and not _within(name, "dashboard.core"):
        return "core is the bottom layer and imports nothing of the application"
    return None


def _permissions_import(name: str) -> str | None:
    # StaffRole lives in dashboard.core.roles so that this needs no exception either.
    if _within(name, "dashboard") and not _within(name, "dashboard.core"):
        return "the permission matrix depends only on dashboard.core"
    return None


def _model_import(name: str) -> str | None:
    if _within(name, "dashboard.services"):
        return "models must not depend on services"
    return None


def test_services_reach_no_door_and_no_request():
    offences = _offences(_modules("dashboard/services"), _service_import)
    for path in _modules("dashboard/services"):
        for name, line in _flask_globals(path):
            offences.append(
                f"{_module_name(path)} (line {line}) reads {name}: services take settings as "
                "plain values (e.g. StripeSettings) built by the door"
            )
    assert not offences, "\n".join(offences)


def test_core_imports_nothing_of_the_application():
    assert _modules("dashboard/core"), "dashboard/core is missing"
    offences = _offences(_modules("dashboard/core"), _core_import)
    assert not offences, "\n".join(offences)


def test_models_import_no_services():
    offences = _offences(_modules("dashboard/models"), _model_import)
    assert not offences, "\n".join(offences)


def test_the_permission_matrix_depends_only_on_core():
    offences = _offences(_modules("dashboard/permissions.py"), _permissions_import)
    assert not offences, "\n".join(offences)


@pytest.mark.parametrize(
    ("source", "rule", "expected"),
    [
        (
            "from dashboard.auth.current import current_actor\n",
            _service_import,
            "dashboard.auth.current",
        ),
        ("from dashboard import stripe_cli\n", _service_import, "dashboard.stripe_cli"),
        ("import dashboard.cli.users\n", _service_import, "dashboard.cli.users"),
        ("from flask import request\n", _service_import, "flask.request"),
        ("from dashboard.models import User\n", _core_import, "dashboard.models"),
        ("import dashboard.services.audit\n", _permissions_import, "dashboard.services.audit"),
        ("from ..services import audit\n", _model_import, "dashboard.services"),
    ],
)
def test_an_upward_import_is_reported_with_its_module(
    tmp_path, monkeypatch, source, rule, expected
):
    """The checks above would catch it: one planted import of each kind is named."""
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    planted = tmp_path / "dashboard" / "models" / "planted.py"
    planted.parent.mkdir(parents=True)
    planted.write_text(source)
    offences = _offences([planted], rule)
    assert any(
        o.startswith(f"dashboard.models.planted (line 1) imports {expected}: ") for o in offences
    )


def test_reading_current_app_is_reported(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("import flask\n\n\ndef f():\n    return flask.current_app.config\n")
    assert list(_flask_globals(planted)) == [("flask.current_app", 5)]
