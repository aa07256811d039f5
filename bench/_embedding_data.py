"""The real samples bench/embedding.py embeds: the Self-Instruct predictions of 8 models (synthetic) and GSM8K
problems (real), read from ../shared/data."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

PREDICTIONS_TEMPLATE = "self-instruct-user-oriented"


@dataclass(frozen=True)
class Record:
    """One sample as the import file carries it."""

    input: str
    output: str
    origin: str
    generator: str
    template: str


def real_records(data_dir: Path) -> list[Record]:
    """Self-Instruct predictions (synthetic, one generator per model) and GSM8K (real)."""
    predictions = sorted((data_dir / "self_instruct_user_oriented" / "predictions").glob("*_predictions.jsonl"))
    gsm8k = data_dir / "gsm8k" / "gsm8k_train.json"
    if not predictions or not gsm8k.is_file():
        raise SystemExit(f"real data not found under {data_dir} (see ../shared/data/README.md)")
    records: list[Record] = []
    for path in predictions:
        generator = path.name.removesuffix("_predictions.jsonl")
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    records.append(
                        Record(
                            input=row["prompt"],
                            output=row["response"],
                            origin="synthetic",
                            generator=generator,
                            template=PREDICTIONS_TEMPLATE,
                        )
                    )
    with open(gsm8k, encoding="utf-8") as fh:
        for row in json.load(fh):
            records.append(
                Record(input=row["instruction"], output=row["output"], origin="real", generator="", template="")
            )
    return records


def distinct_records(data_dir: Path) -> list[Record]:
    """The real records less repeats: the import drops a repeated (input, output)."""
    seen: set[tuple[str, str]] = set()
    distinct: list[Record] = []
    for record in real_records(data_dir):
        key = (record.input, record.output)
        if key not in seen:
            seen.add(key)
            distinct.append(record)
    return distinct


def sample_records(data_dir: Path, *, samples: int, seed: int) -> list[Record]:
    """`samples` distinct records, shuffled so every slice mixes both sources."""
    distinct = distinct_records(data_dir)
    if samples > len(distinct):
        raise SystemExit(f"--samples {samples:,}: the real data holds {len(distinct):,} distinct samples")
    random.Random(seed).shuffle(distinct)
    return distinct[:samples]


def bulk_records(data_dir: Path, *, samples: int, seed: int) -> list[Record]:
    """`samples` distinct records for the encode-free pass, which needs more than the real data holds:
    past the distinct real records they repeat, each repeat's output tagged with its round so the
    import keeps it (the texts' lengths stay those of real data)."""
    distinct = distinct_records(data_dir)
    random.Random(seed).shuffle(distinct)
    records = distinct[:samples]
    repeat = 1
    while len(records) < samples:
        records += [
            Record(
                input=record.input,
                output=f"{record.output} ({repeat})",
                origin=record.origin,
                generator=record.generator,
                template=record.template,
            )
            for record in distinct[: samples - len(records)]
        ]
        repeat += 1
    return records
