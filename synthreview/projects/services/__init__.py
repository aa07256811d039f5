"""Writes of the ground floor."""

from __future__ import annotations

from synthreview.projects.services.audit_log import audit_log_record

__all__ = ["audit_log_record"]
