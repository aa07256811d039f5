"""Access helpers for generation's objects, on top of the ground floor's (synthreview/projects/access.py)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import Http404

from generation.models import GenerationRun, Generator, ImportBatch, Sample
from synthreview.projects.access import ProjectAccess, get_in_project_for_user, get_project_for_user


def get_sample_for_user(user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "review") -> Sample:
    return get_sample_with_access(user, slug, pk, need)[1]


def get_sample_with_access(
    user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "review"
) -> tuple[ProjectAccess, Sample]:
    access = get_project_for_user(user, slug, need)
    sample = (
        Sample.objects.select_related("generator", "run", "template_version__template", "import_batch")
        .filter(project=access.project, pk=pk)
        .first()
    )
    if sample is None:
        raise Http404("No such sample in this project.")
    return access, sample


def get_import_for_user(user: AbstractBaseUser | AnonymousUser, slug: str, pk: int) -> ImportBatch:
    access = get_project_for_user(user, slug, "import")
    batch = ImportBatch.objects.filter(project=access.project, pk=pk).first()
    if batch is None:
        raise Http404("No such import in this project.")
    return batch


def get_generator_for_user(
    user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "view"
) -> tuple[ProjectAccess, Generator]:
    return get_in_project_for_user(Generator, "generator", user, slug, pk, need)


def get_run_for_user(
    user: AbstractBaseUser | AnonymousUser, slug: str, pk: int, need: str = "view"
) -> tuple[ProjectAccess, GenerationRun]:
    # A run's plan (every row's variables) can be large and no page needs it.
    return get_in_project_for_user(GenerationRun, "run", user, slug, pk, need, defer=("variable_rows",))
