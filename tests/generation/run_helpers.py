"""Fixtures for generation runs: the OpenAI-compatible test server and generators pointing at it."""

from __future__ import annotations

import pytest

from generation.models import Generator, GeneratorKind
from generation.services.templates import template_version_create
from synthreview.projects.access import ProjectAccess, SystemActor
from synthreview.projects.models import Project
from tests.llm_server import start_llm_server


@pytest.fixture
def llm_server():
    server = start_llm_server()
    yield server
    server.stop()


@pytest.fixture
def generation_worker_env(monkeypatch, settings):
    """What worker processes started by a test read: loopback allowed (the test server),
    quick backoff, short leases."""
    for name, value in {
        "OUTBOUND_ALLOW_PRIVATE_HOSTS": "true",
        "GENERATION_BACKOFF_BASE_S": "0.01",
        "GENERATION_BACKOFF_CAP_S": "0.05",
        "GENERATION_MAX_ATTEMPTS": "3",
        "GENERATION_LANE_LEASE_S": "2",
    }.items():
        monkeypatch.setenv(name, value)
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True


@pytest.fixture
def fast_retries(settings):
    """Loopback allowed (the test server), and backoff in milliseconds, not seconds."""
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    settings.GENERATION_BACKOFF_BASE_S = 0.005
    settings.GENERATION_BACKOFF_CAP_S = 0.02
    settings.GENERATION_MAX_ATTEMPTS = 4
    return settings


def openai_generator(project: Project, name: str, base_url: str, **fields) -> Generator:
    generator = Generator(
        project=project,
        name=name,
        kind=GeneratorKind.OPENAI_COMPATIBLE,
        model_name=fields.pop("model_name", f"model-{name}"),
        endpoint=base_url,
        **fields,
    )
    generator.save()
    return generator


def setup_access(project: Project) -> ProjectAccess:
    """Access for a test's own setup, which no member does: the services' actor is a system actor."""
    return ProjectAccess.for_system(project, SystemActor("test:setup"))


def topic_template(project: Project, text: str = "Write three sentences about {{ topic }}."):
    return template_version_create(setup_access(project), template_name="topics", text=text, variables=["topic"])
