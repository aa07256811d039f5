"""The code-syntax check: Python through ast.parse, JavaScript through `node --check`."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from generation.checks.base import CheckContext, Flag, SampleInput

_FENCED_BLOCK = re.compile(r"```[ \t]*(?P<tag>[\w+#.-]*)[^\n]*\n(?P<body>.*?)```", re.DOTALL)
_PYTHON = {"python", "python3", "py"}
_JAVASCRIPT = {"javascript", "js", "node", "nodejs"}
NODE_TIMEOUT_SECONDS = 10
_NODE_LOCATION = re.compile(r":(?P<line>\d+)\s*$", re.MULTILINE)


def code_blocks(output: str, aliases: set[str]) -> list[tuple[int, str]]:
    """The fenced blocks tagged with the language or untagged, each with the number of output
    lines before it (so errors name the output's line); the whole output when there are no fences."""
    blocks = [
        (output.count("\n", 0, match.start("body")), match.group("body"))
        for match in _FENCED_BLOCK.finditer(output)
        if not match.group("tag") or match.group("tag").lower() in aliases
    ]
    if blocks or "```" in output:
        return blocks
    return [(0, output)]


def python_syntax_error(source: str) -> tuple[int | None, str] | None:
    try:
        ast.parse(source)
    except SyntaxError as error:
        return error.lineno, error.msg
    except ValueError as error:  # null bytes in the source
        return None, str(error)
    except (RecursionError, MemoryError):
        return None, "nested too deeply to parse"
    return None


def javascript_syntax_error(source: str, node: str) -> tuple[int | None, str] | None:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "sample.js"
        script.write_text(source, encoding="utf-8")
        try:
            result = subprocess.run(
                [node, "--check", str(script)], capture_output=True, text=True, timeout=NODE_TIMEOUT_SECONDS
            )
        except subprocess.TimeoutExpired:
            return None  # a slow parser is no evidence against the code
    if result.returncode == 0:
        return None
    lines = result.stderr.splitlines()
    message = next((line.strip() for line in lines if "Error" in line and ":" in line), "syntax error")
    location = _NODE_LOCATION.search(result.stderr.split("\n\n")[0])
    return (int(location.group("line")) if location else None), message


def check_code_syntax(sample: SampleInput, context: CheckContext) -> Flag | None:
    """Applies when the template declares `code_language` python or javascript (the latter
    only with `node` on PATH); other languages are not checked. Fenced blocks tagged with
    the language (or untagged) are checked one by one; without fences, the whole output.
    The reason names the line as counted in the whole output."""
    language = sample.code_language.strip().lower()
    if language in _PYTHON:
        find_error, name = python_syntax_error, "Python"
    elif language in _JAVASCRIPT and (node := shutil.which("node")):

        def find_error(source: str) -> tuple[int | None, str] | None:
            return javascript_syntax_error(source, node)

        name = "JavaScript"
    else:
        return None
    blocks = code_blocks(sample.output, _PYTHON if name == "Python" else _JAVASCRIPT)
    for lines_before, block in blocks:
        error = find_error(block)
        if error:
            line, message = error
            where = f"line {lines_before + line}: " if line else ""
            return Flag("code-syntax", f"{name} does not parse: {where}{message}")
    return None
