"""`flask users ...`: staff accounts for operators."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from .. import auth
from ..extensions import db
from ..leads import record_event
from ..models import StaffUser

cli = AppGroup("users", help="Manage staff accounts.")


def read_password(prompt: str = "Password") -> str:
    """Ask twice with a hidden prompt; when piped, read two lines from standard input."""
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    first = sys.stdin.readline().rstrip("\r\n")
    second = sys.stdin.readline().rstrip("\r\n")
    if not first:
        raise click.ClickException("no password given on standard input")
    if first != second:
        raise click.ClickException("the two passwords differ")
    return first


def get_user(email: str) -> StaffUser:
    user = auth.find_user(db.session, email)
    if user is None:
        raise click.ClickException(f"no account for {email}")
    return user


@cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(auth.ROLES), required=True, help="admin sees every office.")
@click.option("--location", "locations", multiple=True, metavar="SLUG", help="An office this user works for; repeat for more.")
@click.option("--name", default="", help="The name colleagues know them by.")
def create(email: str, role: str, locations: tuple[str, ...], name: str) -> None:
    """Add an account; asks for the password twice (or reads two lines when piped)."""
    password = read_password()
    try:
        user = auth.create_user(db.session, email, password, role=role, location_slugs=locations, name=name)
    except auth.AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    record_event(db.session, "user_created", detail=f"user {user.id}: role {role}, offices "
                 f"{','.join(loc.slug for loc in user.locations) or 'all'} (command line)")
    db.session.commit()
    offices = ", ".join(loc.slug for loc in user.locations) or "all offices"
    click.echo(f"Created {user.role} {user.email} ({offices}).")


@cli.command("list")
def list_users() -> None:
    """Show every account with its role, offices and state."""
    users = db.session.scalars(select(StaffUser).order_by(StaffUser.email)).all()
    if not users:
        click.echo("No accounts yet. Add one with: flask --app intake users create EMAIL --role admin")
        return
    for user in users:
        offices = ",".join(loc.slug for loc in user.locations) or ("all" if user.is_admin else "-")
        flags = ["active" if user.active else "deactivated"]
        if user.totp_enabled:
            flags.append("two-step")
        elif user.totp_required:
            flags.append("two-step required")
        click.echo(f"{user.email:40} {user.role:6} {offices:30} {' '.join(flags)}")


@cli.command("deactivate")
@click.argument("email")
def deactivate(email: str) -> None:
    """Stop an account from signing in and end its sessions now."""
    user = get_user(email)
    auth.deactivate(db.session, user)
    record_event(db.session, "user_deactivated", detail=f"user {user.id} (command line)")
    db.session.commit()
    click.echo(f"Deactivated {user.email}; their sessions have ended.")


@cli.command("reset-password")
@click.argument("email")
def reset_password(email: str) -> None:
    """Set a new password (asked twice) and end every session of the account."""
    user = get_user(email)
    password = read_password("New password")
    try:
        auth.set_password(db.session, user, password)
    except auth.AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    record_event(db.session, "user_password_reset", detail=f"user {user.id} (command line)")
    db.session.commit()
    click.echo(f"Password reset for {user.email}; their sessions have ended.")


@cli.command("reset-two-step")
@click.argument("email")
def reset_two_step(email: str) -> None:
    """Forget an account's authenticator (a lost phone) and end its sessions."""
    user = get_user(email)
    auth.reset_two_step(db.session, user)
    record_event(db.session, "user_totp_reset", detail=f"user {user.id} (command line)")
    db.session.commit()
    more = " It must set up a new one at its next sign-in." if user.totp_required else ""
    click.echo(f"Two-step sign-in reset for {user.email}; their sessions have ended.{more}")
