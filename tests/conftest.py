"""Named users for every test: an expert, a lead and an admin of one project, and
an outsider who is a member of another project only."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from synthreview.celery import app as celery_app
from synthreview.projects.models import Membership, Project, Role
from tests.generation.run_helpers import fast_retries, generation_worker_env, llm_server  # noqa: F401  (shared fixtures)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PASSWORD = "correct horse battery staple"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgres` need PostgreSQL itself; on SQLite (the demo's database) they
    are skipped with the marker's reason, so a plain `pytest` there still says what was left out."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    for item in items:
        if (marker := item.get_closest_marker("postgres")) is not None:
            reason = marker.kwargs.get("reason", "needs PostgreSQL")
            item.add_marker(pytest.mark.skip(reason=f"PostgreSQL only: {reason}"))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """On SQLite the test database is a file beside DATABASE_URL's, as the demo's is, rather
    than Django's in-memory default: WAL, the busy timeout and IMMEDIATE transactions only
    behave as in the demo on a file."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3" and not database.get("TEST", {}).get("NAME"):
        database.setdefault("TEST", {})["NAME"] = f"{database['NAME']}.test"


@pytest.fixture(scope="session", autouse=True)
def isolated_data_dir(tmp_path_factory):
    """Indexes and uploads of this test session only, never a developer's var/."""
    from django.conf import settings

    settings.DATA_DIR = tmp_path_factory.mktemp("data_dir")
    return settings.DATA_DIR


@pytest.fixture(autouse=True)
def data_dir_per_test(settings, tmp_path) -> None:
    """Each test's indexes and exports in a folder of its own. Their files are named by
    project id, and on SQLite a rolled-back test hands its ids to the next test, which
    would then take the last test's FAISS index for its own."""
    settings.DATA_DIR = tmp_path / "data_dir"


@pytest.fixture(autouse=True)
def cheap_password_hashing(settings) -> None:
    """The named users are made for nearly every test; the production hasher's
    PBKDF2 rounds cost half a second each on a shared core."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the project in CI)")
    return SHARED_DATA


# The model the test project trains: training exports are refused until a project declares one.
# No test generator is derived from it, so the recursion guard passes unless a test says otherwise.
TEST_TARGET_MODELS = [{"name": "math-tutor-under-test", "derived_from": []}]


@pytest.fixture
def project(db) -> Project:
    return Project.objects.create(slug="math", name="Math word problems", target_models=TEST_TARGET_MODELS)


@pytest.fixture
def other_project(db) -> Project:
    return Project.objects.create(slug="other", name="Someone else's project")


def _member(username: str, project: Project, role: str):
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    Membership.objects.create(user=user, project=project, role=role)
    return user


@pytest.fixture
def expert(project):
    return _member("erin-expert", project, Role.EXPERT)


@pytest.fixture
def lead(project):
    return _member("lee-lead", project, Role.LEAD)


@pytest.fixture
def admin_member(project):
    return _member("ada-admin", project, Role.ADMIN)


@pytest.fixture
def outsider(other_project):
    return _member("otto-outsider", other_project, Role.ADMIN)


@pytest.fixture
def client_for():
    def make(user) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def run_tasks_inline():
    """Celery tasks run in the test process (integration tests use a real worker instead)."""
    previous = {key: celery_app.conf[key] for key in ("task_always_eager", "task_eager_propagates")}
    celery_app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    celery_app.conf.update(previous)
