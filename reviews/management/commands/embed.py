from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from reviews.services.embeddings import embeddings_compute
from synthreview.projects.models import Project


class Command(BaseCommand):
    help = "Embed every sample of a project that has no vector under the current model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: object, slug: str, no_progress: bool, **options: object) -> None:
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug {slug!r}")
        bar = tqdm(unit=" samples", disable=no_progress or options.get("verbosity", 1) == 0, file=self.stderr._out)

        def report(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            written = embeddings_compute(project_id=project.pk, progress=report)
        finally:
            bar.close()
        self.stdout.write(f"embedded {written}")
