"""API tokens from the command line: make one (its secret is printed once), list a user's, revoke one.

The same services as the tokens page (synthreview/projects/services/api_tokens.py), so a token made
here obeys the same limits: a project of the user's, a role cap no higher than their role there.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from synthreview.projects.forms.tokens import MAX_EXPIRY_DAYS
from synthreview.projects.models import ApiToken, Project, Role
from synthreview.projects.selectors.api_tokens import tokens_of
from synthreview.projects.services.api_tokens import api_token_create, api_token_revoke

# The services' argument → the option that sets it, so an error names what the user typed.
OPTION_OF = {"name": "--name", "project": "--project", "role_cap": "--role", "expires_at": "--expires-days"}


class Command(BaseCommand):
    help = "Create, list or revoke a user's API tokens. `create` prints the token's secret once."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,list,revoke}")
        create = actions.add_parser("create", help="Make a token and print its secret (shown this once).")
        create.add_argument("--user", required=True, help="The username the token acts as.")
        create.add_argument("--name", required=True, help="What will hold it: a pipeline, a notebook, a CI job.")
        create.add_argument("--project", default=None, metavar="SLUG", help="Limit the token to this project.")
        create.add_argument("--role", default="", choices=Role.values, help="Limit the token to this role.")
        create.add_argument(
            "--expires-days", type=int, default=None, metavar="N", help=f"Expire after N days (1 to {MAX_EXPIRY_DAYS})."
        )
        listing = actions.add_parser("list", help="The user's tokens, revoked and expired ones included.")
        listing.add_argument("--user", required=True)
        revoke = actions.add_parser("revoke", help="Revoke one of the user's tokens.")
        revoke.add_argument("--user", required=True)
        revoke.add_argument("--id", type=int, required=True, dest="token_id", help="The token's id, from `list`.")

    def handle(self, *args: object, action: str, user: str, **options: Any) -> None:
        account = User.objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"--user: no user is named {user!r}.")
        if action == "create":
            self._create(account, options)
        elif action == "list":
            self._list(account)
        else:
            self._revoke(account, options["token_id"])

    def _create(self, account: User, options: dict[str, Any]) -> None:
        project = None
        if options["project"] is not None:
            project = Project.objects.filter(slug=options["project"]).first()
            if project is None:
                raise CommandError(f"--project: no project has the slug {options['project']!r}.")
        days = options["expires_days"]
        expires_at: datetime | None = None
        if days is not None:
            if not 1 <= days <= MAX_EXPIRY_DAYS:
                raise CommandError(f"--expires-days: give a number of days from 1 to {MAX_EXPIRY_DAYS}, not {days}.")
            expires_at = timezone.now() + timedelta(days=days)
        try:
            new = api_token_create(
                account, name=options["name"], project=project, role_cap=options["role"], expires_at=expires_at
            )
        except ValidationError as error:
            raise CommandError(_named(error)) from None
        self.stderr.write(
            f"Token {new.token.pk} ({new.token.name}) for {account.username}. Its secret follows; it is shown "
            "this once and never again. Send it as: Authorization: Bearer <token>"
        )
        self.stdout.write(new.secret)

    def _list(self, account: User) -> None:
        tokens = list(tokens_of(account))
        if not tokens:
            self.stdout.write(f"{account.username} has no API tokens.")
            return
        rows: list[tuple[str, ...]] = [
            ("ID", "NAME", "TOKEN", "PROJECT", "ROLE CAP", "CREATED", "EXPIRES", "LAST USED", "STATE")
        ]
        rows += [_row(token) for token in tokens]
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())

    def _revoke(self, account: User, token_id: int) -> None:
        token = api_token_revoke(account, token_id=token_id)
        if token is None:
            raise CommandError(f"--id: {account.username} holds no token with id {token_id}.")
        self.stdout.write(f"Revoked token {token.pk} ({token.name}, {token.prefix}…).")


def _row(token: ApiToken) -> tuple[str, ...]:
    return (
        str(token.pk),
        token.name,
        f"{token.prefix}…",
        token.project.slug if token.project else "(every project)",
        token.role_cap or "(owner's role)",
        _when(token.created_at),
        _when(token.expires_at) or "never",
        _when(token.last_used_at) or "never",
        token.state,
    )


def _when(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment is not None else ""


def _named(error: ValidationError) -> str:
    if not hasattr(error, "error_dict"):
        return "; ".join(error.messages)
    return "; ".join(
        f"{OPTION_OF.get(field, field)}: {' '.join(messages)}" for field, messages in error.message_dict.items()
    )
