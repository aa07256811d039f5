from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generation.checks import REGISTRY
from generation.services.checks import project_checks_run
from synthreview.projects.models import Project


class Command(BaseCommand):
    help = "Recheck every sample of a project with the automated checks; print the flags raised per check."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--only",
            action="append",
            choices=sorted(REGISTRY),
            metavar="NAME",
            help=f"run only this check (repeatable): {', '.join(REGISTRY)}",
        )

    def handle(self, *args: object, slug: str, only: list[str] | None, **options: object) -> None:
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug {slug!r}")
        result = project_checks_run(project_id=project.pk, only=only)
        for name in only or list(REGISTRY):
            self.stdout.write(f"{name}: {result.raised[name]:,} flagged")
        self.stdout.write(f"{result.written:,} new flags written")
