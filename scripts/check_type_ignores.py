"""Every `# type: ignore` names its error code and says why on the same line.

mypy's own `warn_unused_ignores` catches an ignore that hides nothing; this catches
one that hides something without saying what or why, e.g.
    value = row[0]  # type: ignore[index]  # the query always returns one row
"""

from __future__ import annotations

import re
import subprocess
import sys

IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")
REASON = re.compile(r"^\s*#\s*\S.{3,}")


def problems(path: str, text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = IGNORE.search(line)
        if match is None:
            continue
        if not match.group("codes"):
            found.append(f"{path}:{number}: `type: ignore` without an error code")
        elif not REASON.match(match.group("rest")):
            found.append(f"{path}:{number}: `type: ignore{match.group('codes')}` without a reason after it")
    return found


def main() -> int:
    tracked = subprocess.run(["git", "ls-files", "*.py"], capture_output=True, text=True, check=True).stdout.split()
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "*.py"], capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for path in tracked + untracked:
        if path == "scripts/check_type_ignores.py":
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                found += problems(path, handle.read())
        except FileNotFoundError:
            continue  # deleted in the working tree
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} type: ignore comment(s) need an error code and a reason on the same line", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
