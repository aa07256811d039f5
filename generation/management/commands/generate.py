"""python manage.py generate RUN_ID: execute (or resume) a run here, with a progress bar.

Items already done are skipped by their keys, so running this on a run a
worker was killed in, or twice, never duplicates a sample. A lane a live worker
is executing stays with it, and the bar follows it to the end. --enqueue hands
the run to the workers instead and watches it.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generation.models import GenerationRun, RunStatus
from generation.selectors.runs import lanes_unheld, run_lanes, run_totals
from generation.services.run_lanes import LaneProgress, lane_execute
from generation.services.runs import run_execute, run_finish_if_done, run_resume
from synthreview.projects.access import ProjectAccess, SystemActor

BAR_WIDTH = 40


class Command(BaseCommand):
    help = "Execute or resume a generation run, showing a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", type=int)
        parser.add_argument("--enqueue", action="store_true", help="Queue it for the workers and watch.")
        parser.add_argument("--retry-failed", action="store_true", help="Try the failed items again too.")

    def handle(self, *args: Any, run_id: int, enqueue: bool, retry_failed: bool, **options: Any) -> None:
        self.stderr.style_func = None  # the bar goes to stderr, but it is no error: not red
        run = GenerationRun.objects.select_related("project").filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"no run with id {run_id}")
        if run.status == RunStatus.DRAFT:
            raise CommandError(f"run {run_id} is a draft; launch it first")
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING) or retry_failed:
            # Executed here, the run is not queued for the workers too: they would race
            # this process for its lanes.
            access = ProjectAccess.for_system(run.project, SystemActor("cli:generate"))
            run = run_resume(access, run=run, retry_failed=retry_failed, enqueue=enqueue)
        if not enqueue:
            run = run_execute(run_id=run_id, on_progress=lambda p: self._bar(run_id, p))
        # Lanes that a worker holds ("busy" here) finish there: watch them to the end,
        # and (unless the workers were asked to) take over any whose holder died.
        self._watch(run, take_over=not enqueue)
        self._summary(GenerationRun.objects.get(pk=run.pk))

    def _bar(self, run_id: int, _lane: LaneProgress | None = None) -> None:
        run = GenerationRun.objects.get(pk=run_id)
        totals = run_totals(run, run_lanes(run))
        finished = totals.done + totals.failed
        filled = int(BAR_WIDTH * totals.finished_share)
        self.stderr.write(
            f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {finished:,}/{totals.items_total:,} "
            f"items · {totals.failed:,} failed · {totals.samples:,} samples",
            ending="",
        )
        self.stderr.flush()

    def _watch(self, run: GenerationRun, *, take_over: bool) -> None:
        while True:
            self._bar(run.pk)
            run.refresh_from_db()
            if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
                return
            if take_over:
                for generator_id in lanes_unheld(run_id=run.pk):
                    lane_execute(run_id=run.pk, generator_id=generator_id, on_progress=lambda p: self._bar(run.pk, p))
                run_finish_if_done(run_id=run.pk)
            time.sleep(1)

    def _summary(self, run: GenerationRun) -> None:
        self._bar(run.pk)
        self.stderr.write("")
        self.stdout.write(
            f"run {run.pk} {run.name}: {run.status}; {run.items_done:,} done, {run.items_failed:,} "
            f"failed of {run.items_total:,}; {run.samples_created:,} samples; "
            f"tokens {run.prompt_tokens:,} in, {run.completion_tokens:,} out"
        )
        if run.items_failed:
            self.stdout.write("failed items are listed on the run's page; retry them with --retry-failed")
