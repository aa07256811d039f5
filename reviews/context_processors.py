"""Open alerts for the one-line banner leads see on every project page."""

from __future__ import annotations

from django.http import HttpRequest

from reviews.selectors.alerts import BannerAlerts, banner_alerts


def project_alerts(request: HttpRequest) -> dict:
    match = getattr(request, "resolver_match", None)
    slug = match.kwargs.get("slug") if match else None
    if not slug or not request.user.is_authenticated:
        return {}

    def open_alerts() -> BannerAlerts:
        # Called only by the banner, which base.html shows to leads and admins: nobody else pays for the query.
        return banner_alerts(slug)

    return {"open_alerts": open_alerts}
