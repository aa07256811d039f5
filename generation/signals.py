"""What generation tells the apps built on it. It never imports them: they connect
receivers in their AppConfig.ready() (reviews/apps.py)."""

from __future__ import annotations

from django.dispatch import Signal

# New samples were committed to a project (an import or a run finished), or are about
# to be: receivers that queue work do so after commit. Sent with `project_id` and
# `requested_by` (the user who asked, or None for a worker).
samples_arrived = Signal()
