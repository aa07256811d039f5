"""The generation app's models: lineage and samples (core), run items (run_items)."""

from generation.models.core import (  # noqa: F401
    DEFAULT_HIDDEN_METADATA_KEYS,
    ROLE_RANK,
    EmbeddingText,
    GenerationRun,
    Generator,
    GeneratorKind,
    ImportBatch,
    ImportFormat,
    ImportStatus,
    Membership,
    Origin,
    OutputFormat,
    Phase,
    Project,
    PromptTemplate,
    PromptTemplateVersion,
    QualityCheckSchedule,
    Role,
    RunStatus,
    Sample,
    SampleCount,
    SampleFlag,
    SampleStatus,
    Split,
)
from generation.models.run_items import RunItem, RunItemStatus, RunLane  # noqa: F401
