"""Benchmark of the support tools' bulk paths on PostgreSQL.

    python bench/support.py [--users 200000] [--grant-to 100000] [--ban 10000] [--keep]

Creates its own database (bo_bench_support on the server of BENCH_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432), runs ``flask db upgrade`` and ``flask seed-demo``,
then times, through the services the admin pages call:
- a bulk grant of 5 tokens to every user matching a filter (the oldest ``--grant-to``);
- a bulk ban of ``--ban`` users who have NextAuth sessions, with their sessions;
and runs ``flask tokens check`` afterwards. The database is dropped at the end unless
``--keep``. Exit status 1 if a step misses its target (10 s) or the ledger is not clean.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

DATABASE = "bo_bench_support"
TARGET_SECONDS = 10.0


def server_url() -> sa.URL:
    raw = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    return make_url(raw).set(drivername="postgresql+psycopg2")


def admin_sql(statement: str) -> None:
    engine = sa.create_engine(server_url().set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(statement))
    engine.dispose()


def flask(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "BACKOFFICE_ENV": "development",
        "FLASK_APP": "wsgi",
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def step(name: str, result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stdout}{result.stderr}")


def measure(url: str, grant_to: int, ban: int) -> list[tuple[str, float, bool]]:
    from dashboard import create_app
    from dashboard.core.actor import Actor
    from dashboard.extensions import db
    from dashboard.models import Session, User, UserRole
    from dashboard.services.moderation.bulk import users_ban_bulk
    from dashboard.services.tokens.bulk import tokens_grant_bulk
    from dashboard.services.tokens.ledger import tokens_check

    # The web settings (statement timeout included): the pages will run these in a request.
    app = create_app({"BACKOFFICE_ENV": "development", "DATABASE_URL": url})
    actor = Actor.system("bench")
    figures = []
    with app.app_context():
        cutoff = db.session.scalar(
            sa.select(User.created_at).order_by(User.created_at).offset(grant_to - 1).limit(1)
        )
        started = time.perf_counter()
        granted = tokens_grant_bulk(
            user_filter=User.created_at <= cutoff,
            amount=5,
            reason="benchmark",
            actor=actor,
            filter_label=f"signed up on or before {cutoff:%Y-%m-%d %H:%M}",
        )
        seconds = time.perf_counter() - started
        print(
            f"bulk grant: {granted.changed:,} of {granted.matched:,} matching users "
            f"(+{granted.opening_balances:,} opening balances) in {seconds:.2f} s"
        )
        figures.append(("bulk grant", seconds, seconds < TARGET_SECONDS))

        with_sessions = (
            sa.select(Session.user_id)
            .join(User, User.id == Session.user_id)
            .where(User.role.not_in([UserRole.BANNED, UserRole.ADMIN]))
            .group_by(Session.user_id)
            .order_by(Session.user_id)
            .limit(ban)
        )
        started = time.perf_counter()
        banned = users_ban_bulk(
            user_filter=with_sessions, reason="benchmark", actor=actor, filter_label="bench"
        )
        seconds = time.perf_counter() - started
        print(
            f"bulk ban: {banned.banned:,} of {banned.matched:,} users, "
            f"{banned.sessions_revoked:,} sessions deleted, in {seconds:.2f} s"
        )
        figures.append(("bulk ban", seconds, seconds < TARGET_SECONDS))

        started = time.perf_counter()
        mismatches = tokens_check(limit=10)
        seconds = time.perf_counter() - started
        print(f"tokens_check: {len(mismatches)} mismatch(es) in {seconds:.2f} s")
        figures.append(("tokens_check clean", seconds, not mismatches))
        db.session.remove()
        db.engine.dispose()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--grant-to", type=int, default=100_000)
    parser.add_argument("--ban", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    options = parser.parse_args()
    url = server_url().set(database=DATABASE).render_as_string(hide_password=False)

    admin_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    admin_sql(f'CREATE DATABASE "{DATABASE}"')
    try:
        step("flask db upgrade", flask(url, "db", "upgrade"))
        started = time.perf_counter()
        step("flask seed-demo", flask(url, "seed-demo", "--users", str(options.users)))
        print(f"seeded {options.users:,} users in {time.perf_counter() - started:.0f} s")
        figures = measure(url, options.grant_to, options.ban)
        started = time.perf_counter()
        checked = flask(url, "tokens", "check")
        seconds = time.perf_counter() - started
        print(
            f"flask tokens check: exit {checked.returncode} in {seconds:.1f} s: "
            f"{checked.stdout.strip() or checked.stderr.strip()}"
        )
        figures.append(("flask tokens check", seconds, checked.returncode == 0))
    finally:
        if not options.keep:
            admin_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    failed = [name for name, _, ok in figures if not ok]
    print("all targets met" if not failed else f"MISSED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
