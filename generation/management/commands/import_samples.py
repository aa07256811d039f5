from __future__ import annotations

import argparse
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, DjangoHelpFormatter
from tqdm import tqdm

from generation.ingest.mapping import INPUT_ALIASES, MAPPABLE_FIELDS, OUTPUT_ALIASES, FieldMapping, MappingError
from generation.ingest.readers import detect_format
from generation.models import ImportBatch, ImportFormat, ImportStatus, Origin
from generation.services.imports import (
    MAX_REPORTED_ERRORS,
    ImportProgress,
    import_batch_create,
    import_batch_mark_failed,
    import_batch_run,
    import_problems,
)
from synthreview.progress import progress_key, progress_set
from synthreview.projects.access import ProjectAccess, SystemActor
from synthreview.projects.models import Project

# The exit status of a process stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT = 130

EPILOG = f"""\
Every row needs an output. Unless --map output=COLUMN names its column, the output is read
from the first of these columns that the row has: {", ".join(OUTPUT_ALIASES)}.
The input is read from instruction (followed by input, when that is not empty), or else
from {", ".join(INPUT_ALIASES)}; the label from label. Every other column is kept in the
sample's metadata.

--map FIELD=COLUMN (repeatable) reads FIELD from COLUMN instead, where FIELD is one of
{", ".join(MAPPABLE_FIELDS)}. Mapping origin, generator or
template reads them per row, so one file can hold several generators' output, and real
samples beside synthetic ones.

Synthetic samples (the default --origin) need a generator: --generator NAME for every
row, or --map generator=COLUMN. Real samples take --origin real and no generator.

The import is all or nothing: on any bad row nothing is imported, and the first
{MAX_REPORTED_ERRORS} problems are listed by line.

Example: import_samples demo answers.csv --generator gpt-4o-mini --map input=question --map output=reply
"""


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's ordering of the options, and the epilog's lines as written."""


class Command(BaseCommand):
    help = "Import samples from JSONL, a JSON array, CSV or Parquet: all rows or none."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("epilog", EPILOG)
        kwargs.setdefault("formatter_class", _HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--origin",
            choices=Origin.values,
            default=Origin.SYNTHETIC,
            help="Origin of every row (default: synthetic, which needs --generator or --map generator=COLUMN).",
        )
        parser.add_argument("--generator", default="", help="Generator of every synthetic row.")
        parser.add_argument("--template", default="", help="Prompt template of every synthetic row.")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=COLUMN",
            help=f"Read FIELD ({', '.join(MAPPABLE_FIELDS)}) from COLUMN; repeat for each field. "
            f"Needed for the output when its column is none of {', '.join(OUTPUT_ALIASES)}.",
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
        except (MappingError, ValueError) as error:
            raise CommandError(str(error)) from None

        batch: ImportBatch | None = None
        # Once the batch exists the import page shows it, so it must end failed or done, whatever
        # stops this process short of a kill; SIGTERM is caught from before it exists.
        try:
            with _terminate_as_interrupt():
                try:
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
                except ValueError as error:
                    raise CommandError(str(error)) from None
                show_bar = not options["no_progress"] and options.get("verbosity", 1) > 0
                batch = self._run(batch, path, fmt, show_bar=show_bar)
        except KeyboardInterrupt:
            if batch is None:
                raise CommandError("interrupted: nothing imported", returncode=INTERRUPTED_EXIT) from None
            self._mark_failed(batch, "the import was interrupted; nothing was imported")
            raise CommandError(
                f"interrupted: nothing imported (import {batch.pk} is marked failed)", returncode=INTERRUPTED_EXIT
            ) from None
        except CommandError:
            raise
        except BaseException as error:
            if batch is not None:
                self._mark_failed(
                    batch, f"the import stopped on an unexpected error ({type(error).__name__}); nothing was imported"
                )
            raise

        if batch.status != ImportStatus.COMPLETED:
            problems = import_problems(batch.errors)
            for line in problems.listed + problems.hints:
                self.stderr.write(line)
            raise CommandError(f"nothing imported: {problems.summary} in {path.name}")
        self.stdout.write(f"imported {batch.rows_imported}, skipped {batch.rows_duplicate} duplicates")

    def _run(self, batch: ImportBatch, path: Path, fmt: str, *, show_bar: bool) -> ImportBatch:
        is_parquet = fmt == ImportFormat.PARQUET
        bar = tqdm(
            total=None if is_parquet else path.stat().st_size,
            unit=" rows" if is_parquet else "B",
            unit_scale=True,
            disable=not show_bar,
            file=self.stderr._out,
        )
        key = progress_key("import", batch.pk)

        def report(step: ImportProgress) -> None:
            # The import page follows a CLI import as it follows a worker's.
            progress_set(
                key,
                done=step.done_units,
                total=step.total_units,
                unit=step.unit,
                detail=f"{step.rows_read:,} rows read",
            )
            if step.total_units and bar.total != step.total_units:
                bar.total = step.total_units
            bar.n = step.done_units
            bar.set_postfix_str(f"{step.rows_read:,} rows")
            bar.refresh()

        try:
            return import_batch_run(batch_id=batch.pk, progress=report)
        finally:
            bar.close()

    def _mark_failed(self, batch: ImportBatch, reason: str) -> None:
        try:
            import_batch_mark_failed(batch_id=batch.pk, reason=reason)
        except Exception as error:
            # The database itself may be what failed; say which batch is left behind.
            self.stderr.write(f"import {batch.pk} could not be marked failed ({type(error).__name__}: {error})")


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a container stopping, `kill`) unwinds like Ctrl-C, so the batch is marked failed."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals cannot be caught here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
