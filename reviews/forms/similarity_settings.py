"""The similarity settings form. Shares are typed in percent, as on the policy page,
and handed to the service as shares of 1; similarities and distances as they are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms

from reviews.services.similarity_settings import (
    MAX_REFIT_SHARE,
    MAX_VARIANT_KEEP,
    MIN_NEAR_DUPLICATE_THRESHOLD,
    MIN_REFIT_SHARE,
)
from synthreview.projects.models import EmbeddingText, Project, VariantRule


def _percent(share: float) -> float:
    """0.9 → 90.0, without the float dust of 0.9 * 100 ever showing."""
    return float(f"{share * 100:.10g}")


def _share(percent: float) -> float:
    return round(percent / 100, 8)


def _number_errors(message: str) -> dict[str, str]:
    return {"min_value": message, "max_value": message, "invalid": message, "required": message}


THRESHOLD_MESSAGE = "The near-duplicate threshold is a cosine similarity from 0.5 to 1."


class SimilaritySettingsForm(forms.Form):
    embedding_text = forms.ChoiceField(
        choices=EmbeddingText.choices,
        label="Embedded text",
        help_text="What each sample's vector is made from. Changing it embeds every sample again (minutes to "
        "hours on a large project), then rebuilds neighbours, groups and clusters.",
        error_messages={
            "invalid_choice": "The embedded text is input, output, or both.",
            "required": "The embedded text is input, output, or both.",
        },
    )
    near_duplicate_threshold = forms.FloatField(
        min_value=MIN_NEAR_DUPLICATE_THRESHOLD,
        max_value=1,
        label="Near-duplicate threshold (cosine)",
        help_text="Samples at least this similar to each other form a near-duplicate group. Changing it regroups "
        "from the stored neighbours, without embedding again.",
        error_messages=_number_errors(THRESHOLD_MESSAGE),
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )
    variant_rule = forms.ChoiceField(
        choices=VariantRule.choices,
        label="Variant rule",
        help_text="Whether samples whose numbers, names, literals or answers differ are told apart as templated "
        "variants. Changing it regroups, without embedding again.",
        error_messages={
            "invalid_choice": "The variant rule is slots or off.",
            "required": "The variant rule is slots or off.",
        },
    )
    variant_keep_max = forms.IntegerField(
        min_value=1,
        max_value=MAX_VARIANT_KEEP,
        label="Variants kept per family",
        help_text="How many members of a variant family the keep action suggests keeping, the most diverse first.",
        error_messages=_number_errors(f"The variants kept per family is a whole number from 1 to {MAX_VARIANT_KEEP}."),
    )
    low_novelty_min_density = forms.FloatField(
        min_value=0,
        max_value=1,
        label="Low novelty: density from",
        help_text="A mostly synthetic cluster whose members' mean similarity to its centre is at least this is "
        "repetitive.",
        error_messages=_number_errors("The low-novelty density is a mean similarity from 0 to 1."),
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )
    low_novelty_min_synthetic_share = forms.FloatField(
        min_value=0,
        max_value=100,
        label="Low novelty: synthetic share from (%)",
        help_text='…and "mostly synthetic" means at least this share of its members.',
        error_messages=_number_errors("The low-novelty synthetic share is a percentage from 0 to 100."),
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    low_novelty_far_distance = forms.FloatField(
        min_value=0,
        max_value=2,
        label="Low novelty: far from real data at",
        help_text="A cluster whose centre is at least this far (1 − cosine) from every real sample is off the "
        "real data. Low-novelty changes flag the clusters again at once.",
        error_messages=_number_errors("The far-from-real distance is a distance (1 − cosine) from 0 to 2."),
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )
    refit_share = forms.FloatField(
        min_value=MIN_REFIT_SHARE * 100,
        max_value=MAX_REFIT_SHARE * 100,
        label="Refit after new samples (%)",
        help_text="Clusters are fitted again by themselves once the samples added since the last fit pass this "
        "share of it.",
        error_messages=_number_errors("The refit share is a percentage from 1 to 1000."),
        widget=forms.NumberInput(attrs={"step": "any"}),
    )

    SECTIONS = (
        ("What is compared", ("embedding_text",)),
        ("Near-duplicates and variants", ("near_duplicate_threshold", "variant_rule", "variant_keep_max")),
        (
            "Low-novelty clusters",
            ("low_novelty_min_density", "low_novelty_min_synthetic_share", "low_novelty_far_distance", "refit_share"),
        ),
    )

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        project: Project,
        proposed_threshold: float | None = None,
        preview_url: str = "",
        **kwargs: Any,
    ) -> None:
        initial = {
            "embedding_text": project.embedding_text,
            "near_duplicate_threshold": proposed_threshold
            if proposed_threshold is not None
            else project.near_duplicate_threshold,
            "variant_rule": project.variant_rule,
            "variant_keep_max": project.variant_keep_max,
            "low_novelty_min_density": project.low_novelty_min_density,
            "low_novelty_min_synthetic_share": _percent(project.low_novelty_min_synthetic_share),
            "low_novelty_far_distance": project.low_novelty_far_distance,
            "refit_share": _percent(project.refit_share),
        }
        super().__init__(data, initial=initial, **kwargs)
        if preview_url:
            # Typing a threshold previews it (the page's "Preview" button does the same without JavaScript).
            self.fields["near_duplicate_threshold"].widget.attrs.update(
                {
                    "hx-get": preview_url,
                    "hx-trigger": "input changed delay:400ms",
                    "hx-target": "#threshold-preview",
                    "hx-swap": "outerHTML",
                    "hx-sync": "this:replace",
                }
            )

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "embedding_text": data["embedding_text"],
            "near_duplicate_threshold": data["near_duplicate_threshold"],
            "variant_rule": data["variant_rule"],
            "variant_keep_max": data["variant_keep_max"],
            "low_novelty_min_density": data["low_novelty_min_density"],
            "low_novelty_min_synthetic_share": _share(data["low_novelty_min_synthetic_share"]),
            "low_novelty_far_distance": data["low_novelty_far_distance"],
            "refit_share": _share(data["refit_share"]),
        }
