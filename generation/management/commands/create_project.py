from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from synthreview.projects.access import SystemActor
from synthreview.projects.models import Project
from synthreview.projects.services.projects import project_create


class Command(BaseCommand):
    help = "Create a project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", default="")

    def handle(self, *args: object, slug: str, name: str, **options: object) -> None:
        if Project.objects.filter(slug=slug).exists():
            raise CommandError(f"a project with slug {slug!r} exists already")
        try:
            project = project_create(slug=slug, name=name, actor=SystemActor("cli:create_project"))
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"created project {project.slug} ({project.name})")
