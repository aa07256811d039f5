"""The signed-in user's API tokens: make one, see them all, revoke one.

A new token's secret is shown in the answer to the POST that made it and never again: it is not
kept anywhere (only its SHA-256 is), so the page cannot show it twice and no redirect carries it.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from synthreview.projects.access import signed_in_account
from synthreview.projects.forms.errors import form_add_service_errors
from synthreview.projects.forms.tokens import ApiTokenForm
from synthreview.projects.selectors.api_tokens import tokens_of
from synthreview.projects.services.api_tokens import NewToken, api_token_create, api_token_revoke


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    account = signed_in_account(request.user)
    assert account is not None  # login_required let only a signed-in user through
    form = ApiTokenForm(request.POST if request.method == "POST" else None, user=account)
    new_token: NewToken | None = None
    if request.method == "POST" and form.is_valid():
        try:
            new_token = api_token_create(account, **form.values())
        except ValidationError as error:
            form_add_service_errors(form, error, renamed={"expires_at": "expires_days"})
        else:
            form = ApiTokenForm(user=account)
    context = {"form": form, "tokens": tokens_of(account), "new_token": new_token}
    return render(request, "projects/tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    account = signed_in_account(request.user)
    assert account is not None  # login_required let only a signed-in user through
    token = api_token_revoke(account, token_id=pk)
    if token is None:
        raise Http404("No such token.")
    messages.success(
        request, f"Token “{token.name}” ({token.prefix}…) is revoked: calls with it are refused from now on."
    )
    return redirect("api_tokens")
