from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from generation.models import Generator
from reviews.models import EvalSetVersion, ExportFormat, ExportSplit, ExportStatus
from reviews.services.exports import ExportError, export_request, export_run
from synthreview.projects.access import ProjectAccess, SystemActor, project_access
from synthreview.projects.models import Project

# The command acts as itself: no member's role is borrowed, and the audit log names it.
EXPORT_COMMAND = SystemActor("cli:export_samples")


class Command(BaseCommand):
    help = (
        "Export a project's approved samples through the governance gates. Writes the file to --out and its "
        "manifest to OUT.manifest.json; exits non-zero with the reason when a gate refuses."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--format", required=True, choices=ExportFormat.values)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--split", default=ExportSplit.TRAIN, choices=ExportSplit.values)
        parser.add_argument(
            "--target-model",
            default="",
            help="The model this data will train (recursion guard); it must be declared in the "
            "project's policy. Default: every model the policy declares.",
        )
        parser.add_argument(
            "--max-depth",
            type=int,
            default=None,
            help="Largest generation depth to take (default: the project's setting).",
        )
        parser.add_argument("--eval-version", type=int, default=None, help="Eval-set version (default: latest).")
        parser.add_argument("--exclude-generator", action="append", default=[], metavar="NAME")
        parser.add_argument(
            "--override-audit",
            default="",
            metavar="REASON",
            help="Export synthetic samples without a passing audit; the reason goes in the manifest.",
        )
        parser.add_argument(
            "--as-user",
            default="",
            metavar="USERNAME",
            help="A member of the project, recorded as the export's author "
            "(default: the command itself, named in the audit log).",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["slug"]).first()
        if project is None:
            raise CommandError(f"no project with slug {options['slug']!r}")
        access = ProjectAccess.for_system(project, EXPORT_COMMAND)
        if options["as_user"]:
            user = get_user_model().objects.filter(username=options["as_user"]).first()
            if user is None:
                raise CommandError(f"no user {options['as_user']!r}")
            # The author is recorded with their role in the project, so it must be one of its members.
            as_member = project_access(user, project)
            if as_member is None:
                raise CommandError(f"{options['as_user']!r} is not a member of project {project.slug!r}")
            access = as_member
        version = None
        if options["eval_version"] is not None:
            version = EvalSetVersion.objects.filter(project=project, version=options["eval_version"]).first()
            if version is None:
                raise CommandError(f"the project has no eval-set version {options['eval_version']}")
        names = options["exclude_generator"]
        excluded = list(Generator.objects.filter(project=project, name__in=names).values_list("id", flat=True))
        if len(excluded) != len(set(names)):
            raise CommandError(f"unknown generator among {names}")
        try:
            export = export_request(
                access,
                format=options["format"],
                split=options["split"],
                target_model=options["target_model"],
                max_generation_depth=options["max_depth"],
                eval_set_version=version,
                excluded_generator_ids=excluded,
                audit_override_reason=options["override_audit"],
                enqueue=False,
            )
        except ExportError as error:
            raise CommandError(str(error)) from error
        bar = tqdm(
            unit=" rows",
            disable=bool(options["no_progress"]) or options.get("verbosity", 1) == 0,
            file=self.stderr._out,
        )

        def report(done: int, total: int, stage: str) -> None:
            bar.set_description(stage)
            bar.total = total or None
            bar.n = done
            bar.refresh()

        try:
            export = export_run(export_id=export.pk, progress=report)
        finally:
            bar.close()
        out = Path(options["out"])
        manifest_path = out.with_name(out.name + ".manifest.json")
        if export.status != ExportStatus.COMPLETED:
            reasons = "\n".join(f"- {r['gate']}: {r['reason']}" for r in export.refusals) or export.error
            raise CommandError(f"export {export.pk} {export.status}:\n{reasons}")
        if export.manifest is None:  # a completed export always has one
            raise CommandError(f"export {export.pk} completed without a manifest")
        shutil.copyfile(export.stored_path, out)
        manifest_path.write_text(json.dumps(export.manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        self.stdout.write(
            f"export {export.pk}: {export.rows_written:,} rows, real share "
            f"{export.manifest['real_share']:.1%}, sha256 {export.sha256}\n"
            f"wrote {out} and {manifest_path}"
        )
