"""Writes of the generation app, split by feature.

The same rule as reviews/services: a service that acts for someone takes `access: ProjectAccess`
first, then keyword-only arguments; the project is `access.project` and who acted is `access.actor`
(a member, or the `SystemActor` of `ProjectAccess.for_system` for the CLI, the demo or a bench script).
Two exceptions: `project_create` takes `actor=` (no project exists yet to hold access), and services
a worker runs with no one behind it take ids (`batch_id=`, `run_id=`) and load the rows themselves.
"""
