"""YAML for untrusted files (map specs, claims): PyYAML's SafeLoader with three more refusals, each naming the line.

- a key that appears twice in one mapping (PyYAML silently keeps the last value);
- more than ``MAX_ALIASES`` alias expansions (``*name``), counted as the aliases a consumer would meet when walking
  the document, so a 1 KB "billion laughs" file is refused while it is read instead of exhausting memory later;
- an alias inside the node it names (a recursive document), and nesting deeper than Python can follow.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from .errors import SourceError

MAX_ALIASES = 100  # alias expansions per document; a spec or claims file needs a handful at most


class Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, alias bombs and recursive aliases."""

    max_aliases = MAX_ALIASES

    def __init__(self, stream):
        super().__init__(stream)
        self._expanded = 0  # aliases met so far, each counted with the aliases inside what it names
        self._weight: dict[int, int] = {}  # id(node) -> aliases inside its (expanded) subtree
        self._open: set[str] = set()  # anchors of the nodes being composed (an alias to one is recursive)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open:
                raise ComposerError(None, None, f"alias *{event.anchor} is inside the node it names "
                                                "(a recursive document)", event.start_mark)
            node = super().compose_node(parent, index)
            self._expanded += 1 + self._weight.get(id(node), 0)
            if self._expanded > self.max_aliases:
                raise ComposerError(None, None, f"more than {self.max_aliases} alias expansions (*{event.anchor}"
                                                "): the document would expand far beyond its size; refused",
                                    event.start_mark)
            return node
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open.add(anchor)
        before = self._expanded
        try:
            node = super().compose_node(parent, index)
        finally:
            self._open.discard(anchor)
        if anchor is not None:
            self._weight[id(node)] = self._expanded - before
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for knode, _ in node.value:
                if not isinstance(knode, yaml.ScalarNode) or knode.tag == "tag:yaml.org,2002:merge":
                    continue
                key = (knode.tag, knode.value)
                if key in seen:
                    raise ConstructorError(None, None, f"key '{knode.value}' appears twice in the same mapping "
                                                       f"(first at line {seen[key]})", knode.start_mark)
                seen[key] = knode.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def load(text: str, path: str | Path, loader: type[Loader] = Loader) -> Any:
    """The one document in `text`, as plain Python; any problem is a SourceError naming `path` and the line."""
    ldr = None
    try:
        ldr = loader(text)  # the reader refuses control characters here, before any parsing
        return ldr.get_single_data()
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, refused before parsing
        line = text.count("\n", 0, exc.position) + 1
        raise SourceError(path, line, f"not valid YAML: character {exc.character!r} is not allowed") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise SourceError(path, line, f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise SourceError(path, None, "not valid YAML: nested too deeply") from None
    finally:
        if ldr is not None:
            ldr.dispose()
