"""The operator's admin lists what each app registers there, wherever the model now lives."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

ADMIN_LISTS = [
    "/admin/projects/project/",
    "/admin/projects/auditlog/",
    "/admin/projects/samplecount/",
    "/admin/generation/sample/",
    "/admin/generation/generator/",
    "/admin/reviews/audit/",
    "/admin/reviews/verdict/",
    "/admin/reviews/similarityjob/",
    "/admin/reviews/duplicategroup/",
]


@pytest.mark.parametrize("path", ADMIN_LISTS)
def test_the_operator_opens_each_admin_list(client, project, path):
    operator = get_user_model().objects.create_superuser("operator", "op@example.com", "pw-for-tests")
    client.force_login(operator)
    assert client.get(path).status_code == 200
