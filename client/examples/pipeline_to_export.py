"""From a generation pipeline's output to an approved training set, through synthreview.

1. push the pipeline's JSONL output as synthetic samples (a rerun after a crash adds nothing twice);
2. draw an audit of the generator (or name one with --audit) and wait while experts review it
   on the audit page;
3. ask for a training export; its gates (audit, recursion, real share, eval set) decide;
4. pull the approved export as a Hugging Face Dataset, with its manifest.

    export SYNTHREVIEW_TOKEN=srv_...   # a lead's token (My tokens page, or manage.py api_token create)
    python client/examples/pipeline_to_export.py --url http://127.0.0.1:8000 --project math \\
        --file generations.jsonl --generator llama-3.1-70b --map input=question --map output=answer \\
        --target-model math-tutor-v2 --save ./approved

Needs `pip install './client[datasets]'`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from synthreview_client import Client, PushRefused, TextProgress
from synthreview_client.datasets import pull_export


def records_of(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SYNTHREVIEW_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("SYNTHREVIEW_TOKEN"), help="default: $SYNTHREVIEW_TOKEN")
    parser.add_argument("--project", required=True, help="the project's slug")
    parser.add_argument("--file", type=Path, required=True, help="the pipeline's output, one JSON object a line")
    parser.add_argument("--generator", required=True, help="the generator that wrote every line")
    parser.add_argument("--template", default=None, help="the prompt template the lines answer")
    parser.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN", help="as import_samples --map")
    parser.add_argument("--audit", type=int, default=None, help="wait for this audit instead of drawing one")
    parser.add_argument("--audit-size", type=int, default=60)
    parser.add_argument("--target-model", default="", help="the model the export will train")
    parser.add_argument("--save", type=Path, default=None, help="save the Dataset here (save_to_disk)")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give --token or set SYNTHREVIEW_TOKEN")
    mapping = dict(pair.split("=", 1) for pair in args.map)

    with Client(args.url, args.token) as client:
        project = client.project(args.project)

        try:
            summary = project.push(
                records_of(args.file),
                origin="synthetic",
                generator=args.generator,
                template=args.template,
                mapping=mapping,
                progress=TextProgress("push"),
            )
        except PushRefused as refused:
            print(f"refused: {refused}", file=sys.stderr)
            print("fix those records and run again: the batches already imported will not be added twice.")
            return 1
        print(f"pushed: {summary}")

        audit_id = args.audit
        if audit_id is None:
            generator = next(g for g in project.generators() if g["name"] == args.generator)
            audit = project.create_audit(scope="generator", generator=generator["id"], sample_size=args.audit_size)
            audit_id = audit["id"]
            print(f"audit {audit_id} drawn: {audit['progress']['items']} items for the experts to review")
        audit = project.wait_for_audit(audit_id, poll=30)
        floor = audit["noise_floor"] or {}
        print(f"audit {audit_id} closed: {floor.get('wrong')} wrong of {floor.get('judged')} judged")

        asked = project.create_export(format="parquet", target_model=args.target_model)
        export = project.wait_for_export(asked["id"], progress=TextProgress("export"))
        if export["status"] != "completed":
            print(f"export {export['id']} {export['status']}:", file=sys.stderr)
            for refusal in export["refusals"]:
                print(f"  {refusal['gate']}: {refusal['reason']}", file=sys.stderr)
            return 1

        dataset, manifest = pull_export(project, export["id"], progress=TextProgress("download"))
    counts = manifest["counts"]
    print(
        f"export {export['id']}: {dataset.num_rows:,} rows, {counts['by_origin']}, sha256 {manifest['file']['sha256']}"
    )
    if args.save is not None:
        dataset.save_to_disk(str(args.save))
        (args.save / "synthreview_manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        print(f"saved to {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
