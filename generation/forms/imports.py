from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from generation.ingest.mapping import FieldMapping, MappingError
from generation.ingest.readers import detect_format
from generation.models import ImportFormat, Origin


class ImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL, JSON array, CSV or Parquet.")
    format = forms.ChoiceField(choices=[("", "From the file name")] + list(ImportFormat.choices), required=False)
    origin = forms.ChoiceField(choices=Origin.choices, initial=Origin.SYNTHETIC)
    generator = forms.CharField(
        max_length=200, required=False, help_text="Required for synthetic samples unless a column is mapped."
    )
    template = forms.CharField(max_length=200, required=False)
    mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "input=instruction\noutput=response"}),
        help_text="One FIELD=COLUMN per line; fields: input, output, label, origin, generator, template.",
    )

    def clean_file(self) -> UploadedFile:
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is larger than the limit of {settings.IMPORT_MAX_UPLOAD_BYTES // 1024**2} MiB."
            )
        return upload

    def clean_mapping(self) -> FieldMapping:
        lines = [line.strip() for line in self.cleaned_data["mapping"].splitlines() if line.strip()]
        try:
            return FieldMapping.parse(lines)
        except MappingError as error:
            raise forms.ValidationError(str(error)) from None

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        upload = cleaned.get("file")
        if upload is not None and not cleaned.get("format"):
            try:
                cleaned["format"] = detect_format(upload.name)
            except ValueError as error:
                self.add_error("format", str(error))
        mapping: FieldMapping | None = cleaned.get("mapping")
        origin = cleaned.get("origin")
        per_row = set(mapping.sources) if mapping else set()
        if origin == Origin.SYNTHETIC and not cleaned.get("generator") and "generator" not in per_row:
            self.add_error("generator", "Synthetic samples need a generator name, or a mapped generator column.")
        if origin == Origin.REAL and (cleaned.get("generator") or cleaned.get("template")):
            self.add_error("origin", "Real samples have no generator or template.")
        return cleaned
