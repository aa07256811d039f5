"""Turn a raw row into the fields of a sample, by the user's mapping or by the
common aliases, with a clear reason for every value that cannot be stored."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from generation.hashing import content_hash
from generation.ingest.strict_json import shown
from generation.models import Origin

MAPPABLE_FIELDS = ("input", "output", "label", "origin", "generator", "template")
# Tried in order when the user maps nothing for the field.
OUTPUT_ALIASES = ("output", "response", "completion", "answer", "target")
INPUT_ALIASES = ("input", "prompt", "question")
LABEL_MAX_LENGTH = 200
NAME_MAX_LENGTH = 200
# Looked up once: Origin.values builds a fresh list on every access, a cost paid per row.
_ORIGINS = frozenset(Origin.values)


class MappingError(ValueError):
    """The mapping itself is wrong (not one row): reported before reading."""


@dataclass(frozen=True)
class FieldMapping:
    sources: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, pairs: list[str] | None) -> FieldMapping:
        sources: dict[str, str] = {}
        for pair in pairs or []:
            target, sep, source = pair.partition("=")
            target, source = target.strip(), source.strip()
            if not sep or not target or not source:
                raise MappingError(f"--map takes FIELD=COLUMN, got {pair!r}")
            if target not in MAPPABLE_FIELDS:
                raise MappingError(f"--map cannot set {target!r}; it maps {', '.join(MAPPABLE_FIELDS)}")
            if target in sources:
                raise MappingError(f"--map sets {target!r} twice")
            sources[target] = source
        return cls(sources)

    def as_dict(self) -> dict[str, str]:
        return dict(self.sources)


@dataclass(slots=True)
class MappedRow:
    line: int
    origin: str
    generator_name: str
    template_name: str
    input: str
    output: str
    label: str | None
    metadata_json: str
    content_hash: str


class RowInvalid(ValueError):
    pass


def _as_text(value: object, what: str) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        # Stored as text; a boolean output is almost certainly a mapping mistake, but harmless.
        text = "true" if value else "false"
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise RowInvalid(f"{what} is {value!r}, not a finite number")
        text = repr(value)
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, (bytes, bytearray)):
        raise RowInvalid(f"{what} must be text, got binary data")
    else:
        kind = "an array" if isinstance(value, (list, tuple)) else "an object"
        raise RowInvalid(f"{what} must be text, got {kind}")
    if "\x00" in text:
        raise RowInvalid(f"{what} contains a NUL character, which cannot be stored")
    return text


def _check_encodable(text: str, what: str) -> None:
    if text.isascii():
        # Constant time in CPython, and ASCII text cannot hold a surrogate.
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RowInvalid(f"{what} contains an unpaired surrogate (\\ud800-\\udfff), which is not valid text") from None


def _metadata_default(value: object) -> str:
    # Parquet can hand us dates, decimals and bytes: keep them, as text.
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


# Built once: json.dumps with these options would build a new encoder for every row.
# NaN and infinities are refused: neither SQLite's nor PostgreSQL's JSON can hold them.
_METADATA_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_metadata_default, allow_nan=False)


def _non_finite_field(metadata: dict) -> str:
    """The dotted path of the first NaN or infinity in the metadata (only read once the encoder found one)."""
    stack: list[tuple[str, object]] = [(str(key), value) for key, value in metadata.items()]
    while stack:
        path, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return path
        if isinstance(value, dict):
            stack.extend((f"{path}.{key}", item) for key, item in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return "?"


class RowMapper:
    def __init__(
        self,
        mapping: FieldMapping,
        *,
        default_origin: str,
        default_generator: str,
        default_template: str,
    ) -> None:
        self.mapping = mapping.sources
        self.default_origin = default_origin
        self.default_generator = default_generator
        self.default_template = default_template

    def _mapped(self, data: dict, target: str) -> tuple[bool, object]:
        source = self.mapping.get(target)
        if source is None:
            return False, None
        if source not in data:
            raise RowInvalid(f"missing field {shown(source)} (mapped to {target})")
        return True, data[source]

    def map(self, line: int, data: dict, *, check_surrogates: bool = False) -> MappedRow:
        consumed: set[str] = set()

        found, raw_output = self._mapped(data, "output")
        if found:
            consumed.add(self.mapping["output"])
        else:
            for alias in OUTPUT_ALIASES:
                if alias in data and data[alias] is not None:
                    raw_output, found = data[alias], True
                    consumed.add(alias)
                    break
        if not found or raw_output is None:
            raise RowInvalid("missing output")
        output = _as_text(raw_output, "output")

        found, raw_input = self._mapped(data, "input")
        if found:
            consumed.add(self.mapping["input"])
            input_text = "" if raw_input is None else _as_text(raw_input, "input")
        elif data.get("instruction") is not None:
            # The Alpaca / Self-Instruct layout: the instruction, then its input if any.
            input_text = _as_text(data["instruction"], "instruction")
            consumed.add("instruction")
            extra = data.get("input")
            if "input" in data:
                consumed.add("input")
            if extra is not None:
                extra_text = _as_text(extra, "input")
                if extra_text.strip():
                    input_text = f"{input_text}\n\n{extra_text}"
        else:
            input_text = ""
            for alias in INPUT_ALIASES:
                if alias in data and data[alias] is not None:
                    input_text = _as_text(data[alias], alias)
                    consumed.add(alias)
                    break

        found, raw_label = self._mapped(data, "label")
        if found:
            consumed.add(self.mapping["label"])
        elif "label" in data:
            raw_label = data["label"]
            consumed.add("label")
        label = None if raw_label is None or raw_label == "" else _as_text(raw_label, "label")
        if label is not None and len(label) > LABEL_MAX_LENGTH:
            raise RowInvalid(f"label is longer than {LABEL_MAX_LENGTH} characters")

        origin = self.default_origin
        found, raw_origin = self._mapped(data, "origin")
        if found:
            consumed.add(self.mapping["origin"])
            origin = _as_text(raw_origin, "origin").strip().lower() if raw_origin not in (None, "") else origin
        if origin not in _ORIGINS:
            raise RowInvalid(f"origin must be real or synthetic, got {shown(origin)}")

        generator_name = self._name(data, "generator", self.default_generator, consumed)
        template_name = self._name(data, "template", self.default_template, consumed)
        if origin == Origin.SYNTHETIC and not generator_name:
            raise RowInvalid("a synthetic sample needs a generator (--generator NAME or --map generator=COLUMN)")
        if origin == Origin.REAL and (generator_name or template_name):
            if self.mapping.keys() & {"origin", "generator", "template"}:
                # A mixed file: its real rows simply have no generator or template.
                generator_name = template_name = ""
            else:
                raise RowInvalid("a real sample cannot have a generator or template")

        if check_surrogates:
            _check_encodable(input_text, "input")
            _check_encodable(output, "output")
            _check_encodable(label or "", "label")
            _check_encodable(generator_name, "generator")
            _check_encodable(template_name, "template")

        metadata = {key: value for key, value in data.items() if key not in consumed}
        try:
            metadata_json = _METADATA_ENCODER.encode(metadata) if metadata else "{}"
        except ValueError:
            field = _non_finite_field(metadata)
            raise RowInvalid(f"metadata field {shown(field)} is NaN or infinite, which JSON cannot hold") from None
        if "\\u0000" in metadata_json:
            raise RowInvalid("a metadata field contains a NUL character, which cannot be stored")
        if check_surrogates:
            _check_encodable(metadata_json, "metadata")

        return MappedRow(
            line=line,
            origin=origin,
            generator_name=generator_name,
            template_name=template_name,
            input=input_text,
            output=output,
            label=label,
            metadata_json=metadata_json,
            content_hash=content_hash(input_text, output),
        )

    def _name(self, data: dict, target: str, default: str, consumed: set[str]) -> str:
        found, raw = self._mapped(data, target)
        if not found:
            return default
        consumed.add(self.mapping[target])
        if raw is None or raw == "":
            return default
        name = _as_text(raw, target).strip()
        if len(name) > NAME_MAX_LENGTH:
            raise RowInvalid(f"{target} name is longer than {NAME_MAX_LENGTH} characters")
        return name
