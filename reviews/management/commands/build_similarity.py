from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from reviews.models import SimilarityJobKind
from reviews.services.similarity_build import similarity_build
from reviews.services.similarity_jobs import similarity_job_finish, similarity_job_progress, similarity_job_take_over
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

        # The build job a worker would have run is this command's work: the project page follows it here.
        job_id = similarity_job_take_over(project_id=project.pk, kind=SimilarityJobKind.BUILD, full=full)

        def report(done: int, total: int, stage: str) -> None:
            if job_id is not None:
                similarity_job_progress(job_id=job_id, done=done, total=total, stage=stage)
            bar.set_description(stage)
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            summary = similarity_build(project_id=project.pk, full=full, progress=report)
        except BaseException as error:
            if job_id is not None:
                similarity_job_finish(job_id=job_id, error=f"{type(error).__name__}: {error}")
            raise
        finally:
            bar.close()
        if job_id is not None:
            similarity_job_finish(job_id=job_id, summary=summary.as_dict())
        self.stdout.write(summary.line())
