"""The seed application's own queries and writes, made with Prisma Client and the NextAuth
Prisma adapter (seed-ops.mjs), on a database at Backoffice's head revision with demo data;
then Backoffice's side of the same database: the token commands, a grant on the user whose
balance Prisma took below zero, the customer pages of users Prisma made, and what deleting
a user who is a Backoffice staff member did.

Everything runs once per module (``session``); each test checks one part of it, so that one
run reports every part that fails. The raw outputs are kept under the pytest tmp dir and
printed (``-s``).
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import sign_in_with_forms
from tests.prisma.conftest import backoffice_app, run_tool

GRANT_REASON = "Prisma tool test: top up after a balance below zero"


@dataclass
class CliRun:
    args: list[str]
    exit_code: int
    output: str
    traceback: str | None
    error: str | None = None

    def describe(self) -> str:
        text = f"$ flask {' '.join(self.args)}\n(exit {self.exit_code})\n"
        if self.error:
            text += f"raised {self.error}\n"
        text += self.output
        return text + (f"\n--- traceback ---\n{self.traceback}" if self.traceback else "")


@dataclass
class Session:
    database_url: str
    outputs: Path
    staff_user_id: str
    staff_id: str
    report: dict[str, Any]
    seed_ops: Any
    cli: dict[str, CliRun] = field(default_factory=dict)
    pages: dict[str, tuple[int, str]] = field(default_factory=dict)
    staff_after: dict[str, Any] = field(default_factory=dict)

    def op_failures(self, *, skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        return [op for op in self.report["ops"] if not op["ok"] and op["name"] not in skip]


def flask(app: Any, outputs: Path, label: str, *args: str) -> CliRun:
    result = app.test_cli_runner().invoke(args=list(args))
    problem = result.exception
    trace = error = None
    if problem is not None and not isinstance(problem, SystemExit):
        trace = "".join(traceback.format_exception(problem))
        error = "".join(traceback.format_exception_only(problem)).strip()
    run = CliRun(list(args), result.exit_code, result.output, trace, error)
    (outputs / f"{label}.txt").write_text(run.describe())
    print(f"\n===== {label} =====\n{run.describe()}")
    return run


def make_staff_member(app: Any) -> tuple[str, str]:
    """An EDITOR staff account on a demo user (the user Prisma will try to delete)."""
    from dashboard.extensions import db
    from dashboard.models import User, UserRole
    from tests.factories import make_staff

    with app.app_context():
        user = db.session.scalars(
            sa.select(User).where(User.role == UserRole.USER).order_by(User.email).limit(1)
        ).one()
        staff = make_staff("EDITOR", user=user)
        db.session.commit()
        return user.id, staff.id


def customer_pages(app: Any, user_ids: dict[str, str]) -> dict[str, tuple[int, str]]:
    from dashboard.extensions import db
    from tests.factories import make_staff

    pages: dict[str, tuple[int, str]] = {}
    with app.app_context():
        viewer = make_staff("SUPPORT")
        db.session.commit()
        client = app.test_client()
        signed_in = sign_in_with_forms(client, viewer)
        assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:2000]
        for label, user_id in user_ids.items():
            response = client.get(f"/admin/customer/{user_id}")
            pages[label] = (response.status_code, response.get_data(as_text=True))
        db.session.remove()
    return pages


def staff_state(app: Any, staff_id: str, user_id: str) -> dict[str, Any]:
    from dashboard.extensions import db
    from dashboard.models import StaffAccount, User

    with app.app_context():
        db.session.expire_all()
        staff = db.session.get(StaffAccount, staff_id)
        state = {
            "staff_exists": staff is not None,
            "staff_is_active": None if staff is None else staff.is_active,
            "staff_user_id": None if staff is None else staff.user_id,
            "user_exists": db.session.get(User, user_id) is not None,
        }
        db.session.remove()
    return state


@pytest.fixture(scope="module")
def session(node_project, backoffice_database, tmp_path_factory) -> Session:  # noqa: ANN001
    outputs = tmp_path_factory.mktemp("prisma-seed-app")
    url = backoffice_database()
    app = backoffice_app(url)
    staff_user_id, staff_id = make_staff_member(app)

    report_path = outputs / "seed-ops-report.json"
    ran = run_tool(
        "seed-ops",
        ["node", "seed-ops.mjs", "--staff-user-id", staff_user_id, "--out", report_path],
        database_url=url,
        outputs=outputs,
    )
    assert ran.returncode == 0 and report_path.is_file(), ran.describe()
    report = json.loads(report_path.read_text())
    run = Session(url, outputs, staff_user_id, staff_id, report, ran)

    run.cli["check"] = flask(app, outputs, "tokens-check", "tokens", "check")
    run.cli["reconcile"] = flask(app, outputs, "tokens-reconcile", "tokens", "reconcile")
    run.cli["check-after"] = flask(app, outputs, "tokens-check-after", "tokens", "check")
    negative = report["users"]["negative"] or {}
    run.cli["grant"] = flask(
        app,
        outputs,
        "tokens-grant",
        "tokens",
        "grant",
        negative.get("email", "missing@example.com"),
        "5",
        "--reason",
        GRANT_REASON,
    )
    made = {
        label: user_id
        for label, user_id in (
            ("full", report["users"]["full"]),
            ("negative", negative.get("id")),
            ("nextauth", report["users"]["nextauth"]),
        )
        if user_id
    }
    run.pages = customer_pages(app, made)
    run.staff_after = staff_state(app, staff_id, staff_user_id)
    print(f"\n===== staff after the delete =====\n{run.staff_after}")
    with app.app_context():
        from dashboard.extensions import db

        db.engine.dispose()
    return run


def _errors(ops: list[dict[str, Any]]) -> str:
    return "\n".join(f"- {op['name']}: {json.dumps(op['error'], indent=2)}" for op in ops)


STAFF_DELETE = "user.delete (Backoffice staff member)"


def test_the_seed_apps_queries_and_writes_all_succeed(session: Session) -> None:
    failures = session.op_failures(skip=(STAFF_DELETE,))
    assert not failures, f"Prisma operations that failed:\n{_errors(failures)}"
    names = {op["name"] for op in session.report["ops"]}
    for expected in (
        "user.create (full)",
        "tokens decrement below zero",
        "blogPost.create",
        "userSubscription.upsert (update)",
        "paymentHistory.upsert (1)",
        "nextauth.linkAccount (nextauth)",
        "nextauth.getSessionAndUser (nextauth)",
        "nextauth.useVerificationToken",
        "nextauth.deleteUser (nextauth-deleted)",
        "user.findUnique include everything (Prisma-made)",
    ):
        assert expected in names, f"seed-ops.mjs did not run {expected!r}"
    assert session.report["users"]["negative"]["tokens"] == -3


def test_deleting_a_user_who_is_staff_succeeds_and_deactivates_the_staff_account(
    session: Session,
) -> None:
    deleted = session.report["staffDelete"]
    assert deleted is not None, "seed-ops.mjs did not try the staff user's delete"
    assert deleted["ok"], (
        "Prisma could not delete a user who is Backoffice staff "
        f"(user {session.staff_user_id}):\n{json.dumps(deleted['error'], indent=2)}"
    )
    state = session.staff_after
    assert not state["user_exists"], state
    assert state["staff_exists"] and state["staff_is_active"] is False, (
        f"after the user's delete the staff account should be kept, deactivated: {state}"
    )


def test_tokens_check_runs_and_lists_the_balances_prisma_wrote(session: Session) -> None:
    check = session.cli["check"]
    assert check.traceback is None, check.describe()
    assert check.exit_code in (0, 1), check.describe()
    # Prisma changed balances without a ledger row: check must name those users.
    negative_email = session.report["users"]["negative"]["email"]
    assert check.exit_code == 1 and negative_email in check.output, check.describe()


def test_tokens_reconcile_books_every_balance_including_a_negative_one(
    session: Session,
) -> None:
    reconcile = session.cli["reconcile"]
    assert reconcile.traceback is None and reconcile.exit_code == 0, reconcile.describe()
    after = session.cli["check-after"]
    assert after.exit_code == 0 and "The ledger explains every balance." in after.output, (
        after.describe()
    )


def test_a_grant_to_the_negative_balance_user_works(session: Session) -> None:
    grant = session.cli["grant"]
    assert grant.traceback is None, grant.describe()
    assert grant.exit_code == 0, grant.describe()
    negative = session.report["users"]["negative"]
    assert grant.output.startswith(f"Granted 5 tokens to {negative['email']}: balance "), (
        grant.describe()
    )


def test_the_customer_pages_of_prisma_made_users_open(session: Session) -> None:
    assert set(session.pages) == {"full", "negative", "nextauth"}, session.report["users"]
    broken = {
        label: (status, body[:3000])
        for label, (status, body) in session.pages.items()
        if status != 200
    }
    assert not broken, f"customer pages that did not answer 200: {broken}"
    full_page = session.pages["full"][1]
    assert f"cus_prisma_{session.report['tag']}" in full_page
