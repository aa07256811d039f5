from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from generation.services.demo import DEMO_LOGINS, DEMO_SLUG, demo_project_create
from synthreview.projects.models import Project
from synthreview.projects.queue import enqueue_on_commit


class Command(BaseCommand):
    help = "Fill the demo project and queue its audits (offline, deterministic). Does nothing if it exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--inline",
            action="store_true",
            help="Execute the generation runs here instead of queueing them for a worker.",
        )

    def handle(self, *args: object, inline: bool, **options: object) -> None:
        if Project.objects.filter(slug=DEMO_SLUG).exists():
            self.stdout.write("the demo project exists already")
        else:
            project = demo_project_create(execute_runs_inline=inline)
            # The demo's audits need its runs' samples; the task waits for them.
            enqueue_on_commit("reviews.tasks.demo_audits_task", project.pk)
            where = "executed" if inline else "queued for the worker"
            self.stdout.write(f"created the demo project; its generation runs are {where}")
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.role:<6} login: {login.username} / {login.password}")
