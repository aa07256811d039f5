"""Access helpers for the reviews app's objects, on top of the ground floor's (synthreview/projects/access.py)."""

from __future__ import annotations

from reviews.models import Alert, Audit, Cluster, DuplicateGroup, Export
from synthreview.projects.access import InProjectGetter

get_duplicate_group_for_user = InProjectGetter(DuplicateGroup, "near-duplicate group", need="review")
get_cluster_for_user = InProjectGetter(Cluster, "cluster", need="review")
get_audit_for_user = InProjectGetter(Audit, "audit", need="review")
get_alert_for_user = InProjectGetter(Alert, "alert", need="dashboard")
get_export_for_user = InProjectGetter(Export, "export", need="export")
