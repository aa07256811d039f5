"""A generator's base URL is typed in by an admin and called by the server: it
must never reach the cloud metadata service, link-local or (unless allowed)
internal addresses, whether typed in directly or reached through a redirect."""

from __future__ import annotations

import pytest
from django.urls import reverse

from generation.clients.openai_compatible import GeneratorCallError, OpenAICompatibleClient, client_for_generator
from generation.models import Generator
from generation.services.generators import generator_create
from tests.generation.run_helpers import setup_access
from tests.llm_server import start_llm_server

pytestmark = pytest.mark.django_db

ALWAYS_REFUSED = [
    "http://169.254.10.1/v1",  # link-local
    "http://169.254.169.254/latest/meta-data/",  # AWS, GCP and Azure metadata
    "http://metadata.google.internal/computeMetadata/v1",
    "http://[fd00:ec2::254]/v1",  # AWS metadata over IPv6
    "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud metadata
    "http://[::ffff:169.254.169.254]/v1",  # IPv4-mapped IPv6
    "http://[::ffff:a9fe:a9fe]/v1",  # the same, in hex
    "http://[::ffff:100.100.100.200]/v1",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
]


def post_generator(client, project, endpoint: str, name: str = "remote"):
    return client.post(
        reverse("generator_new", args=[project.slug]),
        {
            "name": name,
            "kind": "openai-compatible",
            "model_name": "tiny",
            "endpoint": endpoint,
            "concurrency": 4,
            "request_timeout_s": 60,
        },
    )


@pytest.mark.parametrize("url", ALWAYS_REFUSED)
def test_admin_form_refuses_forbidden_base_urls_even_with_private_hosts_allowed(
    url, project, admin_member, client_for, settings
):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    response = post_generator(client_for(admin_member), project, url)
    assert response.status_code == 400
    assert 'data-testid="error-endpoint"' in response.content.decode()
    assert not Generator.objects.filter(project=project).exists()


@pytest.mark.parametrize("url", ALWAYS_REFUSED)
def test_client_refuses_forbidden_base_urls_before_any_request(url, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    with pytest.raises(GeneratorCallError) as caught:
        OpenAICompatibleClient(base_url=url, api_key=None)
    assert str(caught.value).startswith("refused: ")
    assert not caught.value.retryable


@pytest.mark.parametrize("url", ALWAYS_REFUSED[:3])
def test_the_service_refuses_them_too(url, project, settings):
    from django.core.exceptions import ValidationError

    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    with pytest.raises(ValidationError) as caught:
        generator_create(
            setup_access(project), name="sneaky", kind="openai-compatible", model_name="tiny", endpoint=url
        )
    assert "endpoint" in caught.value.message_dict


def test_a_redirect_to_the_metadata_service_is_refused_not_followed(project, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    with start_llm_server() as server:
        # Saved: the URL itself is an allowed loopback address; only its answer redirects.
        generator = generator_create(
            setup_access(project),
            name="redirector",
            kind="openai-compatible",
            model_name="tiny",
            endpoint=server.redirect_url,
        )
        with client_for_generator(generator) as client, pytest.raises(GeneratorCallError) as caught:
            client.complete(model="tiny", messages=[{"role": "user", "content": "hi"}], params={})
        records = server.requests.records
    assert str(caught.value) == "redirect refused (HTTP 307)"
    assert caught.value.status_code == 307 and not caught.value.retryable
    # The one request made was to the redirecting server; its Location was never fetched.
    assert [(r.path, r.status) for r in records] == [("/redirect/v1/chat/completions", 307)]


def test_loopback_is_refused_unless_private_hosts_are_allowed(project, admin_member, client_for, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False
    with start_llm_server() as server:
        response = post_generator(client_for(admin_member), project, server.base_url)
        assert response.status_code == 400
        assert "loopback" in response.content.decode()
        with pytest.raises(GeneratorCallError) as caught:
            OpenAICompatibleClient(base_url=server.base_url, api_key=None)
        assert "loopback" in str(caught.value) and not caught.value.retryable

        settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
        response = post_generator(client_for(admin_member), project, server.base_url)
        assert response.status_code == 302
        generator = Generator.objects.get(project=project, name="remote")
        with client_for_generator(generator) as client:
            assert client.complete(model="tiny", messages=[{"role": "user", "content": "hi"}], params={}).text
    assert server.requests.by_status == {200: 1}
