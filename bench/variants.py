"""Templated variants on GSM8K: problems with their numbers changed are variants, not near-duplicates.

Sentence embeddings hardly see numbers, so a problem and a copy with other numbers
embed at cosine 0.95 or more. The similarity engine reads the slot values (numbers,
names, literals, answers) of each pair over the threshold: pairs whose values differ
form variant families, never near-duplicate groups. This bench measures that through
the real code paths, on a database of its own (synthreview_bench_variants, created
and dropped here):

1. N GSM8K problems (seeded choice, ../shared/data/gsm8k/gsm8k_train.json), each
   imported three times as JSONL: the problem under a "Solve:" template, the same
   problem with every number changed (n -> n + 1..9, so the size stays alike) under
   the same template, and the same problem with the same numbers under a second
   framing ("Problem: ... Answer step by step."), the near-duplicate control;
2. the project embeds the input only (there is no solution for the changed numbers),
   template boilerplate inferred from the samples; embeddings_compute + similarity_build
   at the default threshold (0.90);
3. measured over the (problem, changed) pairs: the share inside one near-duplicate or
   exact group (goal 0), the share inside one variant family (goal >= 0.90), and the
   share over the threshold at all (a pair under it is in neither, by design); over
   the (problem, reframed) pairs: the share still grouped as near-duplicates.

    .venv/bin/python bench/variants.py [--quick] [--problems N] [--seed S]

--quick: 150 problems (about 450 texts embedded on CPU); default 600.
Ends with `RESULT variants_near_share=S goal<=0.00 ok|MISS` and
`RESULT variants_found_share=S goal>=0.90 ok|MISS`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import REPO_ROOT, SERVER_URL, database_drop, database_recreate, unique_database_name

GSM8K = REPO_ROOT.parent / "shared" / "data" / "gsm8k" / "gsm8k_train.json"
BENCH_DATABASE = unique_database_name("synthreview_bench_variants")
FULL_PROBLEMS = 600
QUICK_PROBLEMS = 150
FOUND_GOAL = 0.90
TEMPLATES = {"solve": "Solve: {problem}", "steps": "Problem: {problem}\nAnswer step by step."}
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")


def numbers_changed(problem: str, rng: random.Random) -> str:
    """Every number raised by 1-9 (decimals keep their places)."""

    def change(match: re.Match[str]) -> str:
        raw = match.group()
        delta = rng.randint(1, 9)
        if "." in raw:
            places = len(raw.split(".")[1])
            return f"{float(raw) + delta:.{places}f}"
        return str(int(raw) + delta)

    return _NUMBER.sub(change, problem)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PROBLEMS} problems")
    parser.add_argument("--problems", type=int, default=None)
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args(argv)
    if not GSM8K.is_file():
        print(f"the real data file {GSM8K} is absent", file=sys.stderr)
        return 2
    problems = args.problems or (QUICK_PROBLEMS if args.quick else FULL_PROBLEMS)
    if not 10 <= problems <= 7000:
        parser.error("--problems must be between 10 and 7000")
    work_dir = Path(tempfile.mkdtemp(prefix="synthreview-variants-"))
    os.environ.update(
        {
            "DATABASE_URL": f"{SERVER_URL}/{BENCH_DATABASE}",
            "DJANGO_SETTINGS_MODULE": "synthreview.settings",
            "CELERY_BROKER_URL": "memory://localhost/",
            "CELERY_TASK_ALWAYS_EAGER": "False",
            "DATA_DIR": str(work_dir / "data"),
            "DEBUG": "False",
        }
    )
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "k" * 50)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    try:
        database_recreate(BENCH_DATABASE)
        return _run(problems, args.seed, work_dir)
    finally:
        database_drop(BENCH_DATABASE)
        shutil.rmtree(work_dir, ignore_errors=True)


def _run(problem_count: int, seed: int, work_dir: Path) -> int:
    import django

    started = time.perf_counter()
    django.setup()
    from django.core.management import call_command

    from generation.models import ImportStatus, Sample
    from generation.services.imports import import_batch_create, import_batch_run
    from reviews.models import DuplicateGroupMember
    from reviews.services.embeddings import embedding_key, embeddings_compute, embeddings_load
    from reviews.services.similarity_build import similarity_build
    from synthreview.projects.access import ProjectAccess, SystemActor
    from synthreview.projects.models import Project
    from synthreview.projects.services.projects import project_create

    call_command("migrate", verbosity=0)
    rng = random.Random(seed)
    source = json.loads(GSM8K.read_text(encoding="utf-8"))
    candidates = [row["instruction"] for row in source if _NUMBER.search(row["instruction"])]
    chosen = rng.sample(candidates, problem_count)
    rows: dict[str, list[dict]] = {"solve": [], "steps": []}
    for problem_id, problem in enumerate(chosen):
        changed = numbers_changed(problem, rng)
        rows["solve"].append(
            {
                "instruction": TEMPLATES["solve"].format(problem=problem),
                "output": "",
                "problem_id": problem_id,
                "role": "original",
            }
        )
        rows["solve"].append(
            {
                "instruction": TEMPLATES["solve"].format(problem=changed),
                "output": "",
                "problem_id": problem_id,
                "role": "changed",
            }
        )
        rows["steps"].append(
            {
                "instruction": TEMPLATES["steps"].format(problem=problem),
                "output": "",
                "problem_id": problem_id,
                "role": "reframed",
            }
        )
    project = project_create(slug="variants")
    Project.objects.filter(pk=project.pk).update(embedding_text="input")
    access = ProjectAccess.for_system(project, SystemActor("bench:variants"))
    for name, template_rows in rows.items():
        rng.shuffle(template_rows)
        path = work_dir / f"{name}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in template_rows), encoding="utf-8")
        batch = import_batch_create(
            access,
            path=path,
            file_name=path.name,
            fmt="jsonl",
            origin="synthetic",
            generator_name="gsm8k-variants",
            template_name=name,
        )
        batch = import_batch_run(batch_id=batch.pk)
        if batch.status != ImportStatus.COMPLETED:
            raise RuntimeError(f"import of {path.name} failed: {batch.errors[:5]}")
    embedded = embeddings_compute(project_id=project.pk)
    similarity_build(project_id=project.pk, full=True)
    project.refresh_from_db()
    threshold = project.near_duplicate_threshold
    print(
        f"data: {problem_count} GSM8K problems x (original, numbers changed, reframed) = {embedded} samples "
        f"embedded and built in {time.perf_counter() - started:.0f} s; threshold {threshold:.2f}, "
        f"variant rule {project.variant_rule!r}"
    )

    role_of: dict[tuple[int, str], int] = {}
    for sample_id, metadata in Sample.objects.filter(project=project).values_list("id", "metadata"):
        role_of[(metadata["problem_id"], metadata["role"])] = sample_id
    group_of: dict[str, dict[int, set[int]]] = {"near": {}, "variant": {}}
    for group_id, kind, sample_id in DuplicateGroupMember.objects.filter(group__project=project).values_list(
        "group_id", "group__kind", "sample_id"
    ):
        group_of["variant" if kind == "variant" else "near"].setdefault(sample_id, set()).add(group_id)
    model_name, text_kind = embedding_key(project)
    ids, vectors = embeddings_load(project_id=project.pk, model_name=model_name, text_kind=text_kind)
    position = {int(i): n for n, i in enumerate(ids)}

    def together(kind: str, a: int, b: int) -> bool:
        return bool(group_of[kind].get(a, set()) & group_of[kind].get(b, set()))

    def cosine(a: int, b: int) -> float:
        return float(np.dot(vectors[position[a]], vectors[position[b]]))

    changed = [(role_of[(p, "original")], role_of[(p, "changed")]) for p in range(problem_count)]
    reframed = [(role_of[(p, "original")], role_of[(p, "reframed")]) for p in range(problem_count)]
    changed_cosines = np.array([cosine(a, b) for a, b in changed])
    near_share = sum(together("near", a, b) for a, b in changed) / len(changed)
    found_share = sum(together("variant", a, b) for a, b in changed) / len(changed)
    above = changed_cosines >= threshold
    found_above = (
        sum(together("variant", a, b) for (a, b), over in zip(changed, above) if over) / above.sum()
        if above.any()
        else 0.0
    )
    control_near = sum(together("near", a, b) for a, b in reframed) / len(reframed)
    control_variant = sum(together("variant", a, b) for a, b in reframed) / len(reframed)
    print(
        f"(problem, numbers changed) pairs: {len(changed)}; cosine median {np.median(changed_cosines):.3f}, "
        f"{above.mean():.1%} at or over {threshold:.2f}"
    )
    print(f"  grouped as near-duplicates: {near_share:.3f} (goal 0)")
    print(
        f"  found in one variant family: {found_share:.3f} (goal >= {FOUND_GOAL:.2f}); "
        f"of the pairs over the threshold: {found_above:.3f}"
    )
    print(
        f"(problem, reframed) control pairs, same numbers: {control_near:.3f} grouped as near-duplicates, "
        f"{control_variant:.3f} in one variant family"
    )
    print(f"{time.perf_counter() - started:.0f} s in all; load average {os.getloadavg()[0]:.2f}")
    print(f"RESULT variants_near_share={near_share:.2f} goal<=0.00 {'ok' if near_share <= 0 else 'MISS'}")
    print(
        f"RESULT variants_found_share={found_share:.2f} goal>={FOUND_GOAL:.2f} "
        f"{'ok' if found_share >= FOUND_GOAL else 'MISS'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
