"""The seed application's own tools, run for real: the Node project beside this file
(Prisma 6.19.3 with the JS engine and adapter-pg, the NextAuth Prisma adapter).

Fixtures and helpers:
- ``node_project``: node and npm found (else skipped, or failed with ``CI=true``),
  ``npm ci`` run when node_modules is missing, the test schema written and Prisma Client
  generated into ``build/``.
- ``backoffice_database(users)``: a new scratch PostgreSQL database named from
  ``TEST_DATABASE_URL``'s (``<name>_prisma_<hex>``) at Backoffice's head revision with
  ``flask seed-demo`` data; it and its Prisma shadow database are dropped afterwards.
- ``run_prisma`` / ``run_node``: run a command with ``DATABASE_URL`` set (without it
  ``prisma generate`` and friends fall back to downloading a native engine), keep its raw
  output under the pytest tmp dir and print it (``-s`` shows it).

No command here downloads anything: DATABASE_URL is always set, npm's install scripts are
off (``.npmrc``), and ``PRISMA_ENGINES_MIRROR`` points at a closed loopback port so that a
download attempt, should one ever happen, fails at once instead of leaving the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.conftest import (
    IN_CI,
    _require_postgresql,
    build_schema,
    configured_test_database_url,
    engine_for,
    settings_for,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SEED_SCHEMA = REPO / "prisma" / "schema.prisma"
PRISMA_CLI = HERE / "node_modules" / "prisma" / "build" / "index.js"
CONFIG = HERE / "prisma.config.ts"
TEST_SCHEMA = HERE / "build" / "schema.prisma"
NPM_CI = ["npm", "ci", "--no-audit", "--no-fund"]
DEMO_USERS = 200


@dataclass
class Ran:
    """One finished command: what it was, its exit status and its raw output."""

    label: str
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.args)}\n(exit {self.returncode})\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )


def tool_env(database_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRISMA_")}
    env.update(
        DATABASE_URL=database_url,
        CHECKPOINT_DISABLE="1",  # no update check over the network
        PRISMA_HIDE_UPDATE_MESSAGE="1",
        PRISMA_ENGINES_MIRROR="http://127.0.0.1:9",  # never reached: see the module doc
        NO_COLOR="1",
        FORCE_COLOR="0",
    )
    return env


def run_tool(
    label: str,
    args: list[str],
    *,
    database_url: str,
    outputs: Path,
    timeout: float = 120,
) -> Ran:
    """Run ``args`` in the Node project with DATABASE_URL set; save and print the output."""
    completed = subprocess.run(
        args,
        cwd=HERE,
        env=tool_env(database_url),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    ran = Ran(
        label, [str(arg) for arg in args], completed.returncode, completed.stdout, completed.stderr
    )
    outputs.mkdir(parents=True, exist_ok=True)
    (outputs / f"{label}.txt").write_text(ran.describe())
    print(f"\n===== {label} =====\n{ran.describe()}")
    return ran


def _tooling_problem() -> str | None:
    missing = [name for name in ("node", "npm") if shutil.which(name) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH"
    version = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    major = version.lstrip("v").split(".")[0]
    if not major.isdigit() or int(major) < 20:
        return f"node {version or '(unknown version)'} is older than 20"
    return None


def _install_and_generate(outputs: Path) -> None:
    # Any URL will do for `generate`: it only needs DATABASE_URL to be set to read the
    # schema (without it the CLI falls back to the native engine and downloads it).
    url = configured_test_database_url()
    if not (HERE / "node_modules").is_dir():
        ran = run_tool("npm-ci", NPM_CI, database_url=url, outputs=outputs, timeout=600)
        assert ran.returncode == 0, f"npm ci failed in {HERE}:\n{ran.describe()}"
    ran = run_tool(
        "prepare-schema", ["node", "prepare-schema.mjs"], database_url=url, outputs=outputs
    )
    assert ran.returncode == 0, ran.describe()
    ran = run_tool(
        "prisma-generate",
        ["node", PRISMA_CLI, "generate", "--config", CONFIG, "--schema", TEST_SCHEMA],
        database_url=url,
        outputs=outputs,
    )
    assert ran.returncode == 0, ran.describe()
    assert (HERE / "build" / "client" / "index.js").is_file(), ran.describe()
    natives = sorted(str(path) for path in (HERE / "build").rglob("*.so.node"))
    assert not natives, f"prisma generate left native engines behind: {natives}"


@pytest.fixture(scope="session")
def node_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    problem = _tooling_problem()
    if problem:
        message = f"the Prisma tool tests need Node.js 20+ and npm: {problem}"
        if IN_CI:
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    _install_and_generate(tmp_path_factory.mktemp("prisma-setup"))
    return HERE


def _drop(admin: sa.Engine, *names: str) -> None:
    with admin.connect() as connection:
        for name in names:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def backoffice_database() -> Iterator[Callable[[int], str]]:
    """``make(users)``: a new database at Backoffice's head with ``users`` demo users."""
    _require_postgresql()
    base = make_url(configured_test_database_url())
    admin = engine_for(configured_test_database_url(), isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make(users: int = DEMO_USERS) -> str:
        name = f"{base.database}_prisma_{uuid.uuid4().hex[:8]}"
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        url = base.set(database=name).render_as_string(hide_password=False)
        build_schema(url)
        seed_demo(url, users)
        return url

    try:
        yield make
    finally:
        for name in made:
            _drop(admin, name, f"{name}_shadow")
        admin.dispose()


def backoffice_app(database_url: str):  # noqa: ANN201
    from dashboard import create_app

    return create_app(settings_for(database_url))


def seed_demo(database_url: str, users: int) -> None:
    from dashboard.extensions import db

    app = backoffice_app(database_url)
    result = app.test_cli_runner().invoke(args=["seed-demo", "--users", str(users)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        db.engine.dispose()
