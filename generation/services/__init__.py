"""Writes of the generation app, split by feature.

A service that acts for someone takes `access: ProjectAccess` first, keyword-only, then `actor`:
the user recorded as doing it, or, for work no person started (a management command, the demo, a
bench script), the `SystemActor` that `ProjectAccess.for_system(project, actor)` was built with, so
the audit log names the program (`details["system_actor"]`) instead of borrowing a member's role.
The view has already checked `access.can(need)`; the service reads the project from `access`.
Services that act on a project with no one behind them (workers: embedding, builds, snapshots, the
export's file) take ids (`project_id=`, `export_id=`) and load the rows themselves; their log rows
have no actor. Older services that take `project=` and `actor=` (audits and verdicts, generators,
imports, runs) keep that shape for now; those that the CLI and the demo call (audit_create,
gold_sample_set, run_resume, project_create, membership_set) accept a `SystemActor` as `actor`.
"""
