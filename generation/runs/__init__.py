"""Generation runs: a template version × generators × a parameter grid × a variable table.

`services` creates, prepares, resumes and closes runs; `lanes` executes one
generator's items in a worker; `plan` is the pure planning both share.
"""

from generation.runs.services import (  # noqa: F401
    RunPreview,
    RunSpec,
    run_cancel,
    run_create,
    run_create_programmatic,
    run_execute,
    run_finish_if_done,
    run_prepare,
    run_preview,
    run_resume,
)
