from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from reviews.models import SimilarityJobKind
from reviews.services.embeddings import embeddings_compute
from reviews.services.similarity_jobs import similarity_job_finish, similarity_job_progress, similarity_job_take_over
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

        # The embed job an import queued is this command's work: the project page follows it here.
        job_id = similarity_job_take_over(project_id=project.pk, kind=SimilarityJobKind.EMBED)

        def report(done: int, total: int) -> None:
            if job_id is not None:
                similarity_job_progress(job_id=job_id, done=done, total=total, stage="embedding")
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            written = embeddings_compute(project_id=project.pk, progress=report)
        except BaseException as error:
            if job_id is not None:
                similarity_job_finish(job_id=job_id, error=f"{type(error).__name__}: {error}")
            raise
        finally:
            bar.close()
        if job_id is not None:
            similarity_job_finish(job_id=job_id, summary={"embedded": written})
        self.stdout.write(f"embedded {written}")
