"""Access helpers for generation's objects, on top of the ground floor's (synthreview/projects/access.py)."""

from __future__ import annotations

from generation.models import GenerationRun, Generator, ImportBatch, Sample
from synthreview.projects.access import InProjectGetter

# The sample pages show where a sample came from, so its sources come in the same query.
get_sample_with_access = InProjectGetter(
    Sample, "sample", need="review", select_related=("generator", "run", "template_version__template", "import_batch")
)
get_import_for_user = InProjectGetter(ImportBatch, "import", need="import")
get_generator_for_user = InProjectGetter(Generator, "generator", need="view")
# A run's plan (every row's variables) can be large and no page needs it.
get_run_for_user = InProjectGetter(GenerationRun, "run", need="view", defer=("variable_rows",))
