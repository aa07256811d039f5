"""The reviews app's models, split by feature."""

from reviews.models.governance import (  # noqa: F401
    FINISHED_EXPORT_STATUSES,
    DownstreamResult,
    EvalLeak,
    EvalLeakCheck,
    EvalSetMember,
    EvalSetVersion,
    Export,
    ExportFormat,
    ExportSplit,
    ExportStatus,
    LeakCheckStatus,
    LeakKind,
)
from reviews.models.quality import (  # noqa: F401
    Alert,
    AlertChannel,
    AuditAdjudication,
    GoldSample,
    QualitySnapshot,
    QualityThreshold,
    SnapshotScope,
)
from reviews.models.queue import QueueClaim  # noqa: F401
from reviews.models.search import SearchStatus, SimilaritySearch  # noqa: F401
from reviews.models.similarity import (  # noqa: F401
    Cluster,
    DuplicateGroup,
    DuplicateGroupMember,
    DuplicateGroupStatus,
    DuplicateKind,
    EmbeddingMap,
    SampleEmbedding,
    SampleSimilarity,
    SimilarityJob,
    SimilarityJobKind,
    SimilarityJobStatus,
)
from reviews.models.verdicts import (  # noqa: F401
    Audit,
    AuditItem,
    AuditScope,
    AuditStatus,
    ErrorCategory,
    Verdict,
    VerdictValue,
)
