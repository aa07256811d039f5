from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from generation.ingest.mapping import FieldMapping, MappingError
from generation.ingest.readers import detect_format
from generation.models import ImportFormat, ImportStatus, Origin
from generation.services.imports import (
    ImportProgress,
    import_batch_create,
    import_batch_run,
)
from synthreview.projects.access import ProjectAccess, SystemActor
from synthreview.projects.models import Project


class Command(BaseCommand):
    help = "Import samples from JSONL, a JSON array, CSV or Parquet: all rows or none."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("file", type=Path)
        parser.add_argument("--origin", choices=Origin.values, default=Origin.SYNTHETIC)
        parser.add_argument("--generator", default="", help="Generator of every synthetic row.")
        parser.add_argument("--template", default="", help="Prompt template of every synthetic row.")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=COLUMN",
            help="Read FIELD (input, output, label, origin, generator, template) from COLUMN.",
        )
        parser.add_argument("--format", choices=ImportFormat.values, default=None)
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["slug"]
        path: Path = options["file"]
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug {slug!r}")
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            fmt = options["format"] or detect_format(path.name)
            mapping = FieldMapping.parse(options["map"])
            batch = import_batch_create(
                ProjectAccess.for_system(project, SystemActor("cli:import_samples")),
                path=path.resolve(),
                file_name=path.name,
                fmt=fmt,
                origin=options["origin"],
                generator_name=options["generator"],
                template_name=options["template"],
                mapping=mapping,
            )
        except (MappingError, ValueError) as error:
            raise CommandError(str(error)) from None

        show_bar = not options["no_progress"] and options.get("verbosity", 1) > 0
        is_parquet = fmt == ImportFormat.PARQUET
        bar = tqdm(
            total=None if is_parquet else path.stat().st_size,
            unit=" rows" if is_parquet else "B",
            unit_scale=True,
            disable=not show_bar,
            file=self.stderr._out,
        )

        def report(step: ImportProgress) -> None:
            if step.total_units and bar.total != step.total_units:
                bar.total = step.total_units
            bar.n = step.done_units
            bar.set_postfix_str(f"{step.rows_read:,} rows")
            bar.refresh()

        try:
            batch = import_batch_run(batch_id=batch.pk, progress=report)
        finally:
            bar.close()
        if batch.status != ImportStatus.COMPLETED:
            for problem in batch.errors:
                self.stderr.write(problem)
            raise CommandError(f"nothing imported: {len(batch.errors)} problem(s) in {path.name}")
        self.stdout.write(f"imported {batch.rows_imported}, skipped {batch.rows_duplicate} duplicates")
