"""The code-syntax check: Python through ast.parse, JavaScript through `node --check`."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from generation.checks.base import CheckContext, Flag, SampleInput
from generation.checks.budget import CheckTimedOut, remaining_seconds

_FENCE = "```"
_FENCE_TAG = re.compile(r"[ \t]*(?P<tag>[\w+#.-]*)")
_PYTHON = {"python", "python3", "py"}
_JAVASCRIPT = {"javascript", "js", "node", "nodejs"}
NODE_TIMEOUT_SECONDS = 10
# Node's start-up alone is tens of milliseconds; below this a busy machine would time out sound code.
NODE_MIN_TIMEOUT_SECONDS = 1.0
# ast.parse is one C call that no budget can stop halfway: it parses about 0.3-1 MB a second,
# so a block beyond this would overrun a budget of a few hundred milliseconds.
MAX_PARSED_CHARS = 100_000
_NODE_LOCATION = re.compile(r":(?P<line>\d+)\s*$", re.MULTILINE)


def code_blocks(output: str, aliases: set[str]) -> list[tuple[int, str]]:
    """The fenced blocks tagged with the language or untagged, each with the number of output
    lines before it (so errors name the output's line); the whole output when there are no fences."""
    if _FENCE not in output:
        return [(0, output)]
    # str.find, not one regex over the output: a regex for "fence, tag, rest of line, body,
    # fence" backtracks over a long unterminated fence line and rescans for every unclosed fence.
    blocks = []
    position = counted_to = lines_before = 0
    while (opening := output.find(_FENCE, position)) != -1:
        line_end = output.find("\n", opening + len(_FENCE))
        if line_end == -1:
            break
        body_start = line_end + 1
        closing = output.find(_FENCE, body_start)
        if closing == -1:
            break
        tag_match = _FENCE_TAG.match(output, opening + len(_FENCE), line_end)
        tag = tag_match.group("tag") if tag_match else ""
        if not tag or tag.lower() in aliases:
            lines_before += output.count("\n", counted_to, body_start)
            counted_to = body_start
            blocks.append((lines_before, output[body_start:closing]))
        position = closing + len(_FENCE)
    return blocks


def python_syntax_error(source: str) -> tuple[int | None, str] | None:
    if len(source) > MAX_PARSED_CHARS:
        raise CheckTimedOut(f"a code block of {len(source):,} characters, over the {MAX_PARSED_CHARS:,} parsed")
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
        left = remaining_seconds()
        timeout = NODE_TIMEOUT_SECONDS if left is None else max(left, NODE_MIN_TIMEOUT_SECONDS)
        try:
            result = subprocess.run([node, "--check", str(script)], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            # A slow parser is no evidence against the code, but the sample was not checked either.
            raise CheckTimedOut(f"node --check ran past {timeout:.1f} s") from None
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
