from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from synthreview.projects.access import ProjectAccess, SystemActor
from synthreview.projects.models import Project, Role
from synthreview.projects.services.projects import membership_set


class Command(BaseCommand):
    help = "Give USERNAME a role in a project, creating the user if needed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("username")
        parser.add_argument("role", choices=Role.values)
        parser.add_argument("--password", default=None, help="Set the user's password.")

    def handle(
        self, *args: object, slug: str, username: str, role: str, password: str | None, **options: object
    ) -> None:
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug {slug!r}")
        try:
            membership_set(
                ProjectAccess.for_system(project, SystemActor("cli:add_member")),
                username=username,
                role=role,
                password=password,
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"{username} is now {role} in {slug}")
