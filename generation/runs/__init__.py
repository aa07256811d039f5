"""Generation runs: a template version × generators × a parameter grid × a variable table.

`generation.services.runs` creates, prepares, resumes and closes runs, and
`generation.services.run_lanes` executes one generator's items in a worker;
`plan` here is the pure planning both share, `callers`, `limits` and `fewshot`
the pieces a lane uses to call a generator.
"""
