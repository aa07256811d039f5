"""The ground floor's models: projects and memberships, their policy choices, the audit log, the sample counters, API tokens."""

from synthreview.projects.models.api_tokens import TOKEN_SECRET_PREFIX, ApiToken  # noqa: F401
from synthreview.projects.models.audit_log import AuditLog  # noqa: F401
from synthreview.projects.models.audit_log_samples import AuditLogSample  # noqa: F401
from synthreview.projects.models.counters import Origin, SampleCount, SampleStatus  # noqa: F401
from synthreview.projects.models.policy import (  # noqa: F401
    DEFAULT_HIDDEN_METADATA_KEYS,
    QualityCheckSchedule,
    VariantRule,
    default_hidden_metadata_keys,
)
from synthreview.projects.models.projects import (  # noqa: F401
    ROLE_RANK,
    EmbeddingText,
    Membership,
    Phase,
    Project,
    Role,
)
