"""Open alerts for the banner leads see on every project page."""

from __future__ import annotations

from django.http import HttpRequest

from reviews.models import Alert

BANNER_ALERTS = 3


def project_alerts(request: HttpRequest) -> dict:
    match = getattr(request, "resolver_match", None)
    slug = match.kwargs.get("slug") if match else None
    if not slug or not request.user.is_authenticated:
        return {}

    def open_alerts() -> list[Alert]:
        # Called only by the banner, which base.html shows to leads and admins: nobody else pays for the query.
        return list(
            Alert.objects.filter(project__slug=slug, acknowledged_at__isnull=True).order_by("-created_at", "-id")[
                : BANNER_ALERTS + 1
            ]
        )

    return {"open_alerts": open_alerts}
