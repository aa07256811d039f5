"""The generation app's models: lineage and samples (core), run items (run_items)."""

from generation.models.core import (  # noqa: F401
    GenerationRun,
    Generator,
    GeneratorKind,
    ImportBatch,
    ImportFormat,
    ImportStatus,
    Origin,
    OutputFormat,
    PromptTemplate,
    PromptTemplateVersion,
    RunStatus,
    Sample,
    SampleFlag,
    SampleStatus,
    Split,
)
from generation.models.run_items import RunItem, RunItemStatus, RunLane  # noqa: F401
