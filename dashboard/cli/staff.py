"""Staff commands: ``flask staff setup-admin EMAIL`` (the seed's ``db:setup-admin``, also
kept as ``flask setup-admin``) and ``flask staff create-demo`` (development only)."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from dashboard.cli import CLI_ACTOR, alias, call

staff_cli = AppGroup("staff", help="Staff accounts.")


def register(app: Flask) -> None:
    app.cli.add_command(staff_cli)
    app.cli.add_command(alias(setup_admin, "setup-admin", of="staff setup-admin"))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@staff_cli.command("setup-admin")
@click.argument("email")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of a prompt.",
)
@click.option(
    "--totp",
    "with_totp",
    is_flag=True,
    help="Also set up two-step sign-in: prints the enrolment URI and recovery codes.",
)
def setup_admin(email: str, password_stdin: bool, with_totp: bool) -> None:
    """Make EMAIL an administrator: creates the user if needed, sets User.role to ADMIN and
    gives it an active ADMIN staff account with the password you type."""
    from dashboard.services.staff.credentials import staff_setup_admin
    from dashboard.services.staff.passwords import PasswordPolicy

    password = _read_password(password_stdin)
    result = call(
        staff_setup_admin,
        email=email,
        password=password,
        with_totp=with_totp,
        actor=CLI_ACTOR,
        policy=PasswordPolicy.from_config(current_app.config),
    )
    made = "Created" if result.created_staff else "Updated"
    user = "new user" if result.created_user else "existing user"
    click.echo(f"{made} admin {result.staff.email} ({user}).")
    if result.totp_uri:
        click.echo("Add this to your authenticator app (or paste the URI into it):")
        click.echo(f"  {result.totp_uri}")
        click.echo("Recovery codes (each works once; store them safely, they are not shown again):")
        for code in result.recovery_codes:
            click.echo(f"  {code}")
    elif current_app.config["REQUIRE_TOTP"] and not result.staff.totp_enrolled:
        click.echo("Two-step sign-in is required for admins: you will set it up at first sign-in.")


@staff_cli.command("create-demo")
@click.option(
    "--url",
    default="http://127.0.0.1:5000",
    show_default=True,
    help="Where the dashboard is served, for the printed sign-in address.",
)
def create_demo(url: str) -> None:
    """Create (or repair) one demo staff member per role with a known password.
    Refuses in production."""
    from dashboard.services.staff.credentials import staff_ensure_demo
    from dashboard.services.staff.passwords import PasswordPolicy

    rows = call(
        staff_ensure_demo,
        actor=CLI_ACTOR,
        policy=PasswordPolicy.from_config(current_app.config),
        env_name=current_app.config["ENV_NAME"],
    )
    click.echo(f"Demo staff (development only) — sign in at {url.rstrip('/')}/auth/sign-in with:")
    for role, email, password in rows:
        click.echo(f"  {role.value:<8} {email:<26} {password}")
