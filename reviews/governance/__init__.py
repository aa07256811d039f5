"""The rules at export (issue 6): pure decisions first, wired to exports later."""
