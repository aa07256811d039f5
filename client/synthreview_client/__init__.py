"""Python client for synthreview's REST API.

from synthreview_client import Client

with Client("https://synthreview.example.org", token) as client:
    math = client.project("math")
    summary = math.push(records, origin="synthetic", generator="llama-3.1-70b")
"""

from __future__ import annotations

from synthreview_client.client import Client, __version__
from synthreview_client.errors import (
    Conflict,
    ErrorDetail,
    Forbidden,
    Invalid,
    NotFound,
    PushRefused,
    RateLimited,
    SynthreviewError,
    Unauthenticated,
)
from synthreview_client.models import BatchResult, PushSummary
from synthreview_client.progress import TextProgress
from synthreview_client.project import Project

__all__ = [
    "BatchResult",
    "Client",
    "Conflict",
    "ErrorDetail",
    "Forbidden",
    "Invalid",
    "NotFound",
    "Project",
    "PushRefused",
    "PushSummary",
    "RateLimited",
    "SynthreviewError",
    "TextProgress",
    "Unauthenticated",
    "__version__",
]
