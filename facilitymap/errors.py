"""Errors that stop a build: a bad file is named with its line, so a person can open it and fix it.

Every error caused by input (a source folder, a map spec, a command-line value) derives from
``FacilitymapError``; the CLI catches that one class and prints ``error: <message>`` without a traceback. Any other
exception is a bug in facilitymap and is shown with its traceback and a request to report it.
"""
from __future__ import annotations

from pathlib import Path


class FacilitymapError(Exception):
    """Bad input: the message names the file (and line or key) and the problem; no traceback is shown."""


class SourceError(FacilitymapError):
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


class SchemaError(SourceError):
    """A descriptor or map spec that does not fit its JSON Schema; ``problem`` is ``key.path: what is wrong``.

    ``problems`` holds every such line (the first is ``problem``), so `validate` can list them all.
    """

    def __init__(self, path: str | Path, line: int | None, problem: str, problems: list[str] | None = None):
        self.problems = list(problems or [problem])
        super().__init__(path, line, problem)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return "\n".join(f"{where}: {p}" for p in self.problems)

    def __reduce__(self):
        return (type(self), (self.path, self.line, self.problem, self.problems))


class BuildError(FacilitymapError):
    """The build cannot go on; the message says which file or source and why."""


class SpecError(BuildError):
    """A map spec that cannot be used; the message names the file and the key."""


class SpecSchemaError(SchemaError, SpecError):
    """A map spec (``maps/<map>.yaml``) that does not fit its schema: ``path: key.path: problem``."""
