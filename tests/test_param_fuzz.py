"""No number a caller types is a server error: every page and API operation, walked from the URL
resolver, gets absurd values (huge, negative, zero, not a number, non-finite, non-ASCII digits,
dates at the calendar's ends) in every parameter it reads, by GET and by POST, as a superuser who is
also the project's admin, so no access check stops the request before the parsing. Path ids get
real objects, and then ids past any database integer.

The parameter names of a page come from its view module (the names it reads from the request)
and the forms the view uses, each fuzzed alone on top of a body that gets past the rest of the
form; a list of common names goes in all at once. The API's names come from its OpenAPI schema."""

from __future__ import annotations

import inspect
import itertools
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from django import forms
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from generation.models import Generator, ImportBatch
from reviews.models import Alert, AuditItem, SimilaritySearch
from reviews.quality.thresholds import THRESHOLD_SPECS
from synthreview.api import api
from synthreview.projects.models import ApiToken, Membership, Role
from synthreview.projects.services.api_tokens import api_token_create
from tests.api.test_api_access_matrix import _world
from tests.reviews.audit_helpers import audit_drawn
from tests.reviews.review_helpers import add_samples, cluster, group, members_token

pytestmark = pytest.mark.django_db

HUGE_IDS = ("9" * 25, str(2**63), str(2**64))
FUZZ = (
    *HUGE_IDS,
    str(2**31),  # one past PostgreSQL's integer (Verdict.time_spent_ms, Sample.revision and the like)
    "-1",
    "0",
    "abc",
    "1e999",
    "nan",
    "١٢٣",  # Arabic-Indic digits: str.isdigit() and int() take them, a database never sees them
    "５",  # a full-width digit
    "9999-12-31",  # a day after it is past datetime.date's end
    "0001-01-01",
)
# A run of the suite sends the values that found server errors when this test was written: one of
# each kind. FUZZ_FULL=1 sends them all (about 9,500 requests, several minutes).
FUZZ_CORE = ("9" * 25, str(2**63), str(2**31), "-1", "1e999", "nan", "١٢٣", "9999-12-31")
FUZZ_VALUES = FUZZ if os.environ.get("FUZZ_FULL") == "1" else FUZZ_CORE
COMMON = (
    "page",
    "cursor",
    "ids",
    "cluster",
    "group",
    "sample",
    "limit",
    "offset",
    "threshold",
    "q",
    "sort",
    "order",
    "since",
    "run",
    "generator",
    "template",
    "status",
    "origin",
    "verdict",
    "after",
    "before",
    "audit",
)
# What Django and the test client add, and what a view reads as a switch rather than a value.
NOT_PARAMETERS = {"csrfmiddlewaretoken", "HTTP_HX_REQUEST", "HX-Request"}
READ_BY_NAME = re.compile(r"""(?:GET|POST|params)(?:\.get|\.getlist)?[(\[]\s*f?["']([A-Za-z_][\w-]*)["']""")


# --- the world the walk runs in ------------------------------------------------------------------


@dataclass
class Seeded:
    """The project's objects, by what each URL's `pk` names, and the request bodies that get a
    POST past its form so the fuzzed value is the only thing wrong with it."""

    slug: str
    path_ids: dict[str, int]
    get_variants: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    post_bases: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    api_bodies: dict[tuple[str, str], object] = field(default_factory=dict)


def _seed(project, lead, superuser) -> Seeded:
    from generation.models import Sample

    world = _world(project, lead)
    samples = list(Sample.objects.filter(project=project).order_by("pk"))
    real = add_samples(project, 2, origin="real")
    first, second, third = add_samples(project, 3)
    duplicates = group(project, [first, second])
    family = group(project, [third, samples[-1]], kind="variant")
    low = cluster(project, 1, [third], low=True)
    audit = world.ids["audit_id"]
    item_sample = AuditItem.objects.filter(audit_id=audit).order_by("position").values_list("sample_id", flat=True)[0]
    closable = audit_drawn(project, lead, size=10)
    alert = Alert.objects.create(
        project=project,
        metric="duplicate_share",
        scope_key="project:0",
        scope_label="all synthetic samples",
        value=0.2,
        limit=0.1,
        message="20%",
    )
    search = SimilaritySearch.objects.create(project=project, user=superuser, query="fuzz")
    token = ApiToken.objects.get(pk=api_token_create(superuser, name="to revoke").token.pk)
    leaving = get_user_model().objects.create_user(username="lou-leaving")
    membership = Membership.objects.create(user=leaving, project=project, role=Role.EXPERT)
    imported = Generator.objects.filter(project=project).first()
    assert imported is not None
    batch = ImportBatch.objects.filter(project=project).first()
    assert batch is not None
    names = itertools.count()

    def verdict_base() -> dict[str, Any]:
        first.refresh_from_db()
        return {"value": "unsure", "revision": first.revision, "time_spent_ms": 1200}

    pk_by_url = {
        "api_token_revoke": token.pk,
        "member_role": membership.pk,
        "member_remove": membership.pk,
        "import_detail": batch.pk,
        "run_detail": world.ids["run_id"],
        "run_action": world.ids["run_id"],
        "generator_edit": imported.pk,
        "verdict_save": first.pk,
        "sample_detail": first.pk,
        "gold_set": real[0].pk,
        "map_point": first.pk,
        "group_resolve": duplicates.pk,
        "group_not_duplicates": duplicates.pk,
        "group_split": duplicates.pk,
        "variant_family_trim": family.pk,
        "similarity_search_results": search.pk,
        "audit_detail": audit,
        "audit_close": closable.pk,
        "audit_adjudicate": audit,
        "alert_acknowledge": alert.pk,
        "export_detail": world.ids["export_id"],
        "export_download": world.ids["export_id"],
        "export_manifest": world.ids["export_id"],
        "downstream_result_add": world.ids["export_id"],
    }
    seeded = Seeded(slug=project.slug, path_ids=pk_by_url, api_bodies=world.bodies)
    seeded.path_ids.update({f"api:{name}": value for name, value in world.ids.items()})
    seeded.get_variants = {
        "similarity_view": [{"tab": tab} for tab in ("groups", "clusters", "map")] + [{"tab": "variants"}],
        "samples_bulk": [{"action": "reject"}, {"action": "reject", "cluster": str(low.pk)}],
        "review_queue": [{}, {"audit": str(audit)}],
        "sample_list": [{}, {"similar_to": str(first.pk)}],
        "noise_floor": [{}, {"compare": "generator"}],
    }
    seeded.post_bases = {
        "verdict_save": verdict_base,
        "samples_bulk": lambda: {"action": "reject", "expected_count": 1, "ids": str(second.pk)},
        "group_resolve": lambda: {"keep": first.pk, "members": members_token(duplicates)},
        "group_not_duplicates": lambda: {"members": members_token(duplicates)},
        "group_split": lambda: {"sample": second.pk, "members": members_token(duplicates)},
        "variant_family_trim": lambda: {"keep": third.pk, "members": members_token(family)},
        "similarity_search": lambda: {"query": "fuzz", "k": 20},
        "audit_list": lambda: {
            "scope": "project",
            "sample_size": 10,
            "expected_error_rate": 10,
            "overlap": 1,
            "gold_items": 0,
            "seed": 5,
        },
        "audit_close": lambda: {"reason": "fuzzing"},
        "audit_adjudicate": lambda: {"sample": item_sample, "value": "wrong"},
        "gold_set": lambda: {"expected_value": "correct"},
        "alert_settings": lambda: {"limit_duplicate_share": "15", "enabled_duplicate_share": "on"},
        "alerts_snooze": lambda: {"days": "1"},
        "eval_set": lambda: {"action": "add", "add-sample_ids": str(real[1].pk)},
        "downstream_result_add": lambda: {"model_name": "m", "metric": "acc", "value": "0.5"},
        "api_tokens": lambda: {"name": f"fuzz {next(names)}", "expires_days": 30},
        "member_role": lambda: {"role": "expert"},
        "member_list": lambda: {"user": f"fuzz-{next(names)}", "role": "expert"},
        "project_new": lambda: {"name": "Fuzz", "slug": f"fuzz-{next(names)}"},
        "generator_new": lambda: {
            "kind": "programmatic",
            "name": f"fuzz-{next(names)}",
            "programmatic_name": _first_programmatic(),
            "concurrency": 1,
            "request_timeout_s": 60,
            "parameters": "{}",
        },
        "generator_edit": lambda: {"model_name": "gen-a"},
        "run_action": lambda: {"action": "cancel"},
        "export_list": lambda: {"format": "jsonl", "split": "train", "audit_override_reason": "fuzzing"},
        "export_check": lambda: {"format": "jsonl", "split": "train", "audit_override_reason": "fuzzing"},
        "policy_settings": lambda: {"phase": str(project.phase)},
        "similarity_settings": lambda: {"embedding_text": "both", "variant_rule": "off"},
    }
    return seeded


def _first_programmatic() -> str:
    from generation.programmatic import REGISTRY

    return sorted(REGISTRY)[0]


# --- the walk ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    route: str
    callback: Callable[..., Any]
    namespace: str | None


def routes() -> Iterator[Route]:
    """Every URL pattern the project serves, from synthreview/urls.py down through each include."""

    def walk(patterns: list, prefix: str, namespace: str | None) -> Iterator[Route]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern):
                yield Route(pattern.name or "", prefix + str(pattern.pattern), pattern.callback, namespace)

    yield from walk(get_resolver().url_patterns, "", None)


def _fill(route: str, values: dict[str, str]) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda match: values[match.group(1)], route)


def _view_module_names(callback: Callable[..., Any]) -> set[str]:
    """Names the view's module (and the view helpers it imports) reads from a request, and the
    fields of the forms the view names."""
    view = inspect.unwrap(callback)
    module = sys.modules[view.__module__]
    sources = [inspect.getsource(module)]
    package = module.__name__.rpartition(".")[0]
    for value in vars(module).values():
        helper = inspect.getmodule(value)
        if helper is not None and helper.__name__.startswith(package + ".") and helper is not module:
            sources.append(inspect.getsource(helper))
    names = {name for source in sources for name in READ_BY_NAME.findall(source)}
    body = inspect.getsource(view)
    for form_name, value in vars(module).items():
        if inspect.isclass(value) and issubclass(value, forms.BaseForm) and form_name in body:
            names |= set(value.base_fields)
    return names - NOT_PARAMETERS


@dataclass
class Tally:
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    statuses: dict[str, set[int]] = field(default_factory=dict)

    def check(self, label: str, response) -> None:
        self.requests += 1
        self.statuses.setdefault(label.split(" ", 2)[1], set()).add(response.status_code)
        if response.status_code >= 500:
            error = response.exc_info[1] if getattr(response, "exc_info", None) else ""
            self.failures.append(f"{label} -> {response.status_code} {error!r}"[:400])


def _allowed(client: Client, method: str, url: str, data: dict) -> bool:
    """Whether the view takes this method at all: a 405 needs no fuzzing."""
    return getattr(client, method)(url, data).status_code != 405


def _page_cases(seeded: Seeded) -> Iterator[tuple[Route, str]]:
    """The project's pages (not the API, the admin or the sign-in pages), each with its URL."""
    for route in routes():
        if route.namespace in ("admin", "api-v1") or route.route.startswith("accounts/"):
            continue
        values = {"slug": seeded.slug, "pk": str(seeded.path_ids.get(route.name, 1))}
        values |= {"figure": "noise-floor-by-generator", "fmt": "csv"}
        yield route, _fill(route.route, values)


def fuzz_pages(client: Client, seeded: Seeded, tally: Tally) -> set[str]:
    walked = set()
    for route, url in _page_cases(seeded):
        walked.add(route.name)
        base_post = seeded.post_bases.get(route.name, dict)
        variants = seeded.get_variants.get(route.name, [{}])
        takes_get = _allowed(client, "get", url, variants[0])
        takes_post = _allowed(client, "post", url, base_post())
        names = _view_module_names(route.callback)
        if route.name == "alert_settings":
            names |= {f"limit_{metric}" for metric in THRESHOLD_SPECS}
        names -= NOT_PARAMETERS
        # The common names a page does not read go in at once: it ignores them, or one answers.
        unread = {name: None for name in COMMON if name not in names}
        for value in FUZZ_VALUES:
            fuzzed = [({name: value}, name) for name in sorted(names)] + [(dict.fromkeys(unread, value), "common")]
            for params, what in fuzzed:
                if takes_get:
                    for variant in variants:
                        response = client.get(url, {**variant, **params})
                        tally.check(f"GET {route.name} {url}?{what}={value} {variant}", response)
                if takes_post:
                    response = client.post(url, {**base_post(), **params})
                    tally.check(f"POST {route.name} {url} {what}={value}", response)
        if "<int:pk>" in route.route:
            for huge in HUGE_IDS:
                huge_url = _fill(route.route, {"slug": seeded.slug, "pk": huge})
                for method, takes, data in (("get", takes_get, variants[0]), ("post", takes_post, base_post())):
                    if takes:
                        tally.check(
                            f"{method.upper()} {route.name} {huge_url}", getattr(client, method)(huge_url, data)
                        )
    return walked


def _json_literal(value: str) -> str:
    """The fuzzed value as the JSON a caller would send: a number where JSON can spell one
    (Python's json reads 1e999 as inf and NaN as nan), a string otherwise."""
    if re.fullmatch(r"-?\d+", value) or value == "1e999":
        return value
    return "NaN" if value == "nan" else json.dumps(value)


def fuzz_api(client: Client, seeded: Seeded, tally: Tally) -> set[str]:
    schema = api.get_openapi_schema()
    walked = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            walked.add(f"{method.upper()} {path}")
            template = path.removeprefix("/api/v1")
            ids = {
                name.removeprefix("api:"): value for name, value in seeded.path_ids.items() if name.startswith("api:")
            }
            values = {"slug": seeded.slug, **{name: str(value) for name, value in ids.items()}}
            url = "/api/v1" + re.sub(r"{(\w+)}", lambda match: values[match.group(1)], template)  # noqa: B023  (called at once)
            parameters = operation.get("parameters", [])
            query = [p["name"] for p in parameters if p["in"] == "query"]
            unread = [name for name in COMMON if name not in query]
            path_names = [p["name"] for p in parameters if p["in"] == "path" and p["name"] != "slug"]
            body_schema = (
                operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            )
            body_names = list(_body_properties(schema, body_schema))
            base = seeded.api_bodies.get((method.upper(), template), {})
            label = f"{method.upper()} {path}"
            call = getattr(client, method)
            for name, value in itertools.product(sorted(query), FUZZ_VALUES):
                tally.check(f"{label} {url}?{name}={value}", client.generic(method.upper(), f"{url}?{_q(name, value)}"))
            for value in FUZZ_VALUES:
                every = urlencode(dict.fromkeys(unread, value))
                tally.check(f"{label} {url}?common={value}", client.generic(method.upper(), f"{url}?{every}"))
            for name, value in itertools.product(body_names, FUZZ_VALUES):
                text = json.dumps({**base, name: "__fuzz__"}).replace('"__fuzz__"', _json_literal(value))
                tally.check(f"{label} {url} {{{name}: {value}}}", call(url, text, content_type="application/json"))
            for name, value in itertools.product(path_names, FUZZ_VALUES):
                fuzzed = "/api/v1" + re.sub(r"{(\w+)}", lambda match: {**values, name: value}[match.group(1)], template)  # noqa: B023  (called at once)
                tally.check(f"{label} {fuzzed}", client.generic(method.upper(), fuzzed))
    return walked


def _q(name: str, value: str) -> str:
    return urlencode({name: value})


def _body_properties(schema: dict, body: dict) -> dict[str, Any]:
    if "$ref" in body:
        body = schema["components"]["schemas"][body["$ref"].rpartition("/")[2]]
    return body.get("properties", {})


# --- the tests -----------------------------------------------------------------------------------


@pytest.fixture
def fuzzer(project, lead, admin_member, settings):
    # Each 500 is listed by the test with its exception; the logger's traceback of each is noise.
    logging.getLogger("django.request").disabled = True
    settings.API_RATE_LIMIT = "10000000/min"
    admin_member.is_staff = admin_member.is_superuser = True
    admin_member.save(update_fields=["is_staff", "is_superuser"])
    client = Client(raise_request_exception=False)
    client.force_login(admin_member)
    yield client, _seed(project, lead, admin_member)
    logging.getLogger("django.request").disabled = False


def test_no_page_answers_a_number_with_a_server_error(fuzzer, record_property):
    client, seeded = fuzzer
    tally = Tally()
    walked = fuzz_pages(client, seeded, tally)
    print(f"\nparameter fuzz, pages: {tally.requests} requests over {len(walked)} URL patterns")
    record_property("page_requests", tally.requests)
    # Every named page of synthreview/urls.py outside the admin, the API and the sign-in pages.
    assert len(walked) >= 55
    assert not tally.failures, "\n".join(tally.failures[:60]) + f"\n({len(tally.failures)} in all)"


def test_no_api_operation_answers_a_number_with_a_server_error(fuzzer, record_property):
    client, seeded = fuzzer
    tally = Tally()
    walked = fuzz_api(client, seeded, tally)
    print(f"\nparameter fuzz, API: {tally.requests} requests over {len(walked)} operations")
    record_property("api_requests", tally.requests)
    assert len(walked) >= 30
    assert not tally.failures, "\n".join(tally.failures[:60]) + f"\n({len(tally.failures)} in all)"
