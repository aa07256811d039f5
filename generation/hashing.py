from __future__ import annotations

import hashlib
import unicodedata

# Separates input from output inside the hash so ("ab", "c") and ("a", "bc") differ.
_FIELD_SEPARATOR = "\x1f"


def normalise_text(text: str) -> str:
    """The form of a text that content hashes compare: NFC, LF line ends, and no
    surrounding whitespace. Inner whitespace is kept, because it can carry meaning
    (code, tables, poems)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text.strip()


def content_hash(input_text: str, output_text: str) -> str:
    joined = normalise_text(input_text) + _FIELD_SEPARATOR + normalise_text(output_text)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()
