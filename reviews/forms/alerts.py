"""Acknowledging and snoozing alerts in bulk: every open alert shown, or one figure's."""

from __future__ import annotations

from django import forms

from reviews.quality.thresholds import THRESHOLD_SPECS
from reviews.services.alerts import SNOOZE_DAYS


def _figure_choices() -> list[tuple[str, str]]:
    return [("", "Every figure"), *((metric, spec.label) for metric, spec in THRESHOLD_SPECS.items())]


class AlertsAcknowledgeForm(forms.Form):
    metric = forms.ChoiceField(choices=_figure_choices, required=False, label="Figure")

    def figure(self) -> str | None:
        return self.cleaned_data["metric"] or None


class AlertsSnoozeForm(AlertsAcknowledgeForm):
    days = forms.TypedChoiceField(
        choices=[(days, f"{days} day{'s' if days != 1 else ''}") for days in SNOOZE_DAYS], coerce=int, label="For"
    )
