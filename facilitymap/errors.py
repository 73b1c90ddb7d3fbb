"""Errors that stop a build: a bad file is named with its line, so a person can open it and fix it."""
from __future__ import annotations

from pathlib import Path


class SourceError(Exception):
    """A source file that cannot be read as its descriptor says: ``str()`` is ``path:line: problem``."""

    def __init__(self, path: str | Path, line: int | None, problem: str):
        self.path = str(path)
        self.line = line
        self.problem = problem
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.problem}"

    def __reduce__(self):
        return (type(self), (self.path, self.line, self.problem))
