"""Filter forms' select boxes, rendered without a template per option."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from django import forms, template
from django.forms import BoundField
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


def _attributes(attrs: Mapping[str, object]) -> SafeString:
    """django/forms/widgets/attrs.html: ` name="value"`, a bare ` name` for True, nothing for False."""
    parts = [
        format_html(" {}", name) if value is True else format_html(' {}="{}"', name, str(value))
        for name, value in attrs.items()
        if value is not False
    ]
    return mark_safe("".join(parts))  # each part went through format_html


def _with_listed_choices(model_field: forms.ModelChoiceField, widget: forms.Select) -> forms.Select:
    """A copy of the widget whose choices are the queryset read as one list: Django's ModelChoiceIterator
    reads it through .iterator(), a server-side cursor on PostgreSQL (DECLARE, FETCH and CLOSE: three
    round trips per select box instead of one). The choices are the iterator's own, one by one."""
    iterator = model_field.iterator(model_field)
    choices: list[tuple[object, object]] = (
        [("", model_field.empty_label)] if model_field.empty_label is not None else []
    )
    choices += [iterator.choice(obj) for obj in (model_field.queryset if model_field.queryset is not None else [])]
    listed = copy.copy(widget)
    listed.choices = choices
    return listed


@register.simple_tag
def select_field(field: BoundField) -> SafeString:
    """`{{ field }}` for a plain single select, the same HTML as Django's select.html and
    select_option.html, built in Python: the sample browser's filters have ~40 options, and one template
    include per option (two, with its attributes) cost the page ~8 ms of CPU. Any other widget (or a
    select with a template of its own) renders as Django renders it."""
    widget = field.field.widget
    if type(widget) is not forms.Select or widget.template_name != forms.Select.template_name:
        return mark_safe(str(field))  # Django rendered and escaped it
    # What BoundField.as_widget passes the widget.
    attrs = field.build_widget_attrs({}, widget)
    if field.auto_id and "id" not in widget.attrs:
        attrs.setdefault("id", field.auto_id)
    if isinstance(field.field, forms.ModelChoiceField):
        widget = _with_listed_choices(field.field, widget)
    context = widget.get_context(field.html_name, field.value(), attrs)["widget"]
    parts = [format_html('<select name="{}"{}>', context["name"], _attributes(context["attrs"]))]
    for group_name, options, _ in context["optgroups"]:
        if group_name:
            parts.append(format_html('\n  <optgroup label="{}">', group_name))
        for option in options:
            parts.append(
                format_html(
                    '\n  <option value="{}"{}>{}</option>\n',
                    str(option["value"]),
                    _attributes(option["attrs"]),
                    option["label"],
                )
            )
        if group_name:
            parts.append(mark_safe("\n  </optgroup>"))
    parts.append(mark_safe("\n</select>"))
    return mark_safe("".join(parts))  # each part went through format_html
