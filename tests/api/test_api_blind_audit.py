"""An expert who holds items of an open audit learns through the API nothing the audit hides: the
pages' blind walk (tests/reviews/test_blind_audit.py), done over every GET operation of the OpenAPI
schema, so a new GET operation is walked here without anyone listing it. Each path parameter is
filled from the blind audit's material (every held item, the gold item, the samples beside them, the
audit, the run, the gold item's import), each list is read with the filters it takes and paged to
its end, and every answer is read as JSON, object by object."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from reviews.models import Export
from reviews.services.audits import audit_close
from synthreview.api import api
from synthreview.projects.access import project_access
from tests.reviews.export_helpers import exported
from tests.reviews.test_blind_audit import (  # noqa: F401  (the blind audit's fixtures, shared with the pages' walk)
    ANSWER_KEY,
    GENERATOR,
    GOLD_IMPORT,
    LINEAGE,
    NEVER,
    OTHER_NOTE,
    _filter_values,
    blind_audit,
    fay,
)

pytestmark = pytest.mark.django_db

# The filters the pages' walk tries on what an audit hides: with any of them, no held item comes back.
HIDDEN_FILTERS = (
    "origin",
    "status",
    "split",
    "generator",
    "run",
    "template",
    "verdict",
    "flag",
    "novelty_min",
    "novelty_max",
    "cluster",
    "group",
)
# An id no object has: where the fixture makes nothing of a kind, its operations still answer one.
NOTHING = 2**40
# Each list is also read a page of this many at a time, following next_cursor to its end.
SMALL_PAGE = 2
MAX_PAGES = 40

# How a held sample reads in reviews/api/samples.py when `blinded` is true, for every operation alike.
# Null: its lineage, status, split, signals and gold standing.
NULL_WHEN_HELD = (
    "origin",
    "status",
    "split",
    "generator",
    "template",
    "run",
    "run_id",
    "generation_depth",
    "lineage",
    "import_batch",
    "novelty",
    "nearest_real",
    "cluster",
    "gold",
)
# Empty: its metadata (the keys alone tell a run's sample from an import's), checks, groups, neighbours.
EMPTY_WHEN_HELD = ("metadata", "flags", "groups", "neighbours", "items")
TRUE_WHEN_HELD = ("blinded", "held", "withheld")
FALSE_WHEN_HELD = ("is_gold",)
# Keys a sample itself carries (a verdict or a group member names its sample by `sample_id` instead):
# an object with one of these and an `id` describes the sample with that id. Other objects' ids
# (an audit's, a group's) may equal a sample's, so `id` alone says nothing.
SAMPLE_KEYS = ("input", "output", "input_preview", "output_preview", "blinded")
# Lists a held sample is left out of, as the pages leave it out: a cluster's members say what it
# resembles, which the held item's own answer withholds (its `cluster` is null).
LEFT_OUT_OF = ("first_members",)


def _query_variants(project, material, expert) -> dict[str, list[dict[str, Any]]]:
    """Path (as the schema writes it, less /api/v1) -> query strings beyond the bare call."""
    audit, held = material["audit"], material["held"]
    hidden = {key: values for key, values in _filter_values(project, material).items() if key in HIDDEN_FILTERS}
    assert set(hidden) == set(HIDDEN_FILTERS), "the pages' walk no longer tries every hidden filter"
    samples = [{key: value} for key, values in hidden.items() for value in values]
    samples += [{"q": "HELDTEXT"}, {"q": "GOLDTEXT"}, {"q": "HELDTEXT", "origin": "synthetic"}]
    samples += [{"q": "GOLDTEXT", "status": "accepted"}, {"verdict": "wrong", "origin": "real"}]
    statuses = ["open", "resolved", "not_duplicates", "trimmed", "all"]
    return {
        "/projects/{slug}/samples": samples,
        "/projects/{slug}/samples/{sample_id}/neighbours": [{"limit": 1}, {"limit": 500}],
        "/projects/{slug}/verdicts": [
            {"audit": audit.pk},
            {"reviewer": "fay-expert"},
            {"audit": audit.pk, "reviewer": "fay-expert"},
            {"reviewer": expert.get_username()},
            {"since": "2000-01-01T00:00:00Z"},
            *({"sample": sample.pk} for sample in held),
            *({"sample": sample.pk, "reviewer": "fay-expert"} for sample in held[:2]),
        ],
        "/projects/{slug}/duplicate-groups": [
            *({"status": status} for status in statuses),
            *({"kind": kind, "status": "all"} for kind in ("exact", "near", "variant", "all")),
        ],
        "/projects/{slug}/variant-families": [{"status": status} for status in statuses],
    }


def _path_values(project, material) -> dict[str, list[Any]]:
    """Every path parameter the schema uses -> the values the walk fills it with."""
    exports = list(Export.objects.filter(project=project).values_list("pk", flat=True))
    return {
        "slug": [project.slug],
        "sample_id": [s.pk for s in material["held"]] + [material["anchor"].pk, material["beside"].pk],
        "audit_id": [material["audit"].pk],
        "run_id": [material["run"].pk],
        # The gold item's own import: its file name is lineage.
        "batch_id": [material["batch"].pk],
        "export_id": exports or [NOTHING],
    }


@dataclass
class Answer:
    template: str  # the operation's path as the schema writes it
    url: str
    params: dict[str, Any]
    status: int
    text: str
    body: Any  # the decoded JSON, or None

    @property
    def label(self) -> str:
        query = "&".join(f"{key}={value}" for key, value in self.params.items())
        return f"GET {self.url}{'?' + query if query else ''}"


def _get_operations() -> dict[str, dict]:
    paths = api.get_openapi_schema()["paths"]
    return {path: spec["get"] for path, spec in paths.items() if "get" in spec}


def _schema_variants(operation: dict) -> list[dict[str, Any]]:
    """Each value of each query parameter the schema enumerates (an enum, a boolean)."""
    variants = []
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "query":
            continue
        schema = parameter.get("schema", {})
        options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"] or [schema]
        for option in options:
            values = option.get("enum") or ([True, False] if option.get("type") == "boolean" else [])
            variants += [{parameter["name"]: value} for value in values]
    return variants


def _read(client, template: str, url: str, params: dict[str, Any]) -> Answer:
    response = client.get(url, params)
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    text = raw.decode(errors="replace")
    body = None
    if response.get("Content-Type", "").startswith("application/json"):
        body = json.loads(text)
    return Answer(template, url, params, response.status_code, text, body)


def _fills(template: str, values: dict[str, list[Any]]) -> Iterator[str]:
    names = re.findall(r"{(\w+)}", template)
    unfilled = [name for name in names if name not in values]
    assert not unfilled, f"{template}: no values for {unfilled}; add them to _path_values"
    urls = [template]
    for name in names:
        urls = [url.replace("{" + name + "}", str(value)) for url in urls for value in values[name]]
    yield from urls


def _walk(client, project, material, expert) -> list[Answer]:
    """Every GET operation with every path value, every query variant, and paged to its end."""
    values = _path_values(project, material)
    variants = _query_variants(project, material, expert)
    answers = []
    for template, operation in sorted(_get_operations().items()):
        short = template.removeprefix("/api/v1")
        query = [{}, *variants.get(short, []), *_schema_variants(operation)]
        pages = {p["name"] for p in operation.get("parameters", [])} >= {"cursor", "limit"}
        for url in _fills(template, values):
            for params in query:
                answers.append(_read(client, template, url, params))
                if pages:
                    answers += _pages(client, template, url, params)
    return answers


def _pages(client, template: str, url: str, params: dict[str, Any]) -> list[Answer]:
    read = [_read(client, template, url, {**params, "limit": SMALL_PAGE})]
    while isinstance(read[-1].body, dict) and read[-1].body.get("next_cursor"):
        assert len(read) < MAX_PAGES, f"{read[-1].label}: the cursor never ends"
        read.append(
            _read(client, template, url, {**params, "limit": SMALL_PAGE, "cursor": read[-1].body["next_cursor"]})
        )
    return read


def _objects(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


def _held_sample_of(node: dict, held: set[int]) -> int | None:
    """The held sample this object describes, if any."""
    if node.get("sample_id") in held:
        return node["sample_id"]
    if node.get("id") in held and any(key in node for key in SAMPLE_KEYS):
        return node["id"]
    return None


def _object_leaks(node: dict, sample_id: int) -> list[str]:
    leaks = [f"{key}={node[key]!r}" for key in NULL_WHEN_HELD if node.get(key) is not None]
    leaks += [f"{key}={node[key]!r}" for key in EMPTY_WHEN_HELD if node.get(key)]
    leaks += [f"{key}={node[key]!r}" for key in TRUE_WHEN_HELD if key in node and node[key] is not True]
    leaks += [f"{key}={node[key]!r}" for key in FALSE_WHEN_HELD if node.get(key)]
    # Its creation time tells a run's sample from an older import's; a verdict's own time is no lineage.
    if node.get("id") == sample_id and node.get("created_at") is not None:
        leaks.append(f"created_at={node['created_at']!r}")
    dumped = json.dumps(node)
    leaks += [f"shows {secret!r}" for secret in LINEAGE if secret in dumped]
    return leaks


def _cursor_ids(cursor: str) -> list[Any]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        return []
    return decoded if isinstance(decoded, list) else []


def _leaks(answer: Answer, held: set[int]) -> list[str]:
    where = f"{answer.label} ({answer.status})"
    problems = [f"{where}: shows {secret!r}" for secret in NEVER if secret in answer.text]
    # A held item's own operations say nothing of its lineage anywhere.
    own = re.search(r"/samples/(\d+)(?:/|$)", answer.url)
    if own and int(own.group(1)) in held:
        problems += [f"{where}: its own answer shows {secret!r}" for secret in LINEAGE if secret in answer.text]
    for node in _objects(answer.body):
        sample_id = _held_sample_of(node, held)
        if sample_id is not None:
            problems += [f"{where}: held sample {sample_id} has {leak}" for leak in _object_leaks(node, sample_id)]
        nearest = node.get("nearest_real")
        if isinstance(nearest, dict) and nearest.get("id") in held:
            problems.append(f"{where}: names held sample {nearest['id']} as a real sample's nearest")
        for key in LEFT_OUT_OF:
            named = {member.get("sample_id") for member in node.get(key) or [] if isinstance(member, dict)}
            problems += [f"{where}: lists held sample {pk} in {key}" for pk in sorted(held.intersection(named))]
        if node.get("representative_id") in held and node.get("representative_reason") is not None:
            problems.append(f"{where}: says why held sample {node['representative_id']} is the keeper")
    # A filter on what the audit hides never returns a held item, whichever value it asks for.
    if answer.template.endswith("/projects/{slug}/samples") and set(answer.params) & set(HIDDEN_FILTERS):
        listed = {item.get("id") for item in (answer.body or {}).get("items", [])}
        cursor = (answer.body or {}).get("next_cursor") or ""
        problems += [f"{where}: a filter on what the audit hides returns held sample {pk}" for pk in listed & held]
        problems += [f"{where}: its cursor names held sample {pk}" for pk in set(_cursor_ids(cursor)) & held]
    return problems


@pytest.fixture
def fast_api(settings):
    settings.API_RATE_LIMIT = "1000000/min"


@pytest.fixture
def an_export(project, lead, blind_audit):
    """An export made while the audit is open, so the export operations are walked with a real id."""
    return exported(project, lead, audit_override_reason="walked by the blind-audit test")


# What an expert may read at all: each of these must answer 200, or the walk proves nothing.
EXPERT_READS = (
    "/me",
    "/projects",
    "/projects/{slug}/samples",
    "/projects/{slug}/samples/{sample_id}",
    "/projects/{slug}/samples/{sample_id}/neighbours",
    "/projects/{slug}/verdicts",
    "/projects/{slug}/audits",
    "/projects/{slug}/audits/{audit_id}",
    "/projects/{slug}/duplicate-groups",
    "/projects/{slug}/variant-families",
    "/projects/{slug}/clusters",
    "/projects/{slug}/generators",
    "/projects/{slug}/runs",
    "/projects/{slug}/runs/{run_id}",
)


def test_an_expert_holding_audit_items_learns_nothing_the_audit_hides_through_the_api(
    project, expert, blind_audit, an_export, api_for, fast_api
):
    held = {s.pk for s in blind_audit["held"]}
    answers = _walk(api_for(expert), project, blind_audit, expert)
    failures = [f"{a.label} answered {a.status}" for a in answers if a.status >= 500]
    assert not failures, "\n".join(failures)
    read = {a.template.removeprefix("/api/v1") for a in answers if a.status == 200}
    assert not set(EXPERT_READS) - read, f"the expert could not read {sorted(set(EXPERT_READS) - read)}"
    # The held items were read one by one, and the list showed them, blind.
    gold = next(a for a in answers if a.url.endswith(f"/samples/{blind_audit['gold'].pk}"))
    assert (gold.status, gold.body["blinded"], gold.body["output"]) == (200, True, "GOLDTEXT-Paris")
    found = next(a for a in answers if a.template.endswith("/samples") and a.params == {"q": "GOLDTEXT"})
    assert [(item["id"], item["blinded"]) for item in found.body["items"]] == [(blind_audit["gold"].pk, True)]
    assert len(answers) > 60
    problems = [problem for answer in answers for problem in _leaks(answer, held)]
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_same_walk_as_the_lead_sees_what_the_audit_hides(
    project, lead, expert, blind_audit, an_export, api_for, fast_api
):
    held = {s.pk for s in blind_audit["held"]}
    answers = _walk(api_for(lead), project, blind_audit, expert)
    assert not [a.label for a in answers if a.status >= 500]
    assert any(ANSWER_KEY in a.text for a in answers), "the lead's walk never shows the answer key"
    assert any(OTHER_NOTE in a.text for a in answers), "the lead's walk never shows fay's note"
    problems = "\n".join(problem for answer in answers for problem in _leaks(answer, held))
    gold = blind_audit["gold"].pk
    for seen in (
        f"shows {ANSWER_KEY!r}",
        "shows 'fay-expert'",
        f"held sample {gold} has origin='real'",
        f"held sample {gold} has lineage=",
        f"shows {GENERATOR!r}",
        f"shows {GOLD_IMPORT!r}",
        f"returns held sample {gold}",
        f"names held sample {gold} as a real sample's nearest",
        f"says why held sample {gold} is the keeper",
        f"lists held sample {gold} in first_members",
    ):
        assert seen in problems, f"the walk is blind to {seen!r}"


def test_once_the_audit_closes_the_expert_sees_what_it_no_longer_hides(project, lead, expert, blind_audit, api_for):
    access = project_access(lead, project)
    assert access is not None
    audit_close(access, audit=blind_audit["audit"], reason="enough for now")
    body = api_for(expert).get(f"projects/{project.slug}/samples/{blind_audit['gold'].pk}").json()
    assert (body["blinded"], body["origin"], body["lineage"]["import_batch"]["file_name"]) == (
        False,
        "real",
        GOLD_IMPORT,
    )
    assert OTHER_NOTE in [verdict["note"] for verdict in body["verdicts"]]
    # The answer key is hidden from experts on every sample, audit or not.
    assert ANSWER_KEY not in json.dumps(body)
