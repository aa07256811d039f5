from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from reviews.services.similarity_build import similarity_build
from synthreview.projects.models import Project


class Command(BaseCommand):
    help = "Find neighbours, near-duplicate groups, clusters and novelty for a project's embedded samples."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--full", action="store_true", help="Rebuild the index instead of adding to it.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: object, slug: str, full: bool, no_progress: bool, **options: object) -> None:
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug {slug!r}")
        bar = tqdm(unit=" samples", disable=no_progress or options.get("verbosity", 1) == 0, file=self.stderr._out)

        def report(done: int, total: int, stage: str) -> None:
            bar.set_description(stage)
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            summary = similarity_build(project_id=project.pk, full=full, progress=report)
        finally:
            bar.close()
        self.stdout.write(summary.line())
