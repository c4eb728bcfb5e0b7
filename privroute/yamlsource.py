"""The line of every key in a YAML document, so errors can name the line they are about.

Policies, serve configs and policy case files are all validated by pydantic, whose
errors carry a location (``("tenants", 0, "api_keys", 0)``); ``yaml_lines`` maps
each such path to its 1-based line and ``line_for`` finds the nearest one known.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

__all__ = ["line_for", "yaml_lines"]

Lines = dict[tuple[str, ...], int]


def yaml_lines(text: str) -> Lines:
    """Key path -> line, for every mapping key and sequence item of ``text`` (raises yaml.YAMLError)."""
    lines: Lines = {}
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is not None:
        _walk(node, (), lines)
    return lines


def _walk(node: yaml.Node, prefix: tuple[str, ...], out: Lines) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + (str(key_node.value),)
            out[path] = key_node.start_mark.line + 1
            _walk(value_node, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = prefix + (str(index),)
            out[path] = item.start_mark.line + 1
            _walk(item, path, out)


def line_for(lines: Lines, loc: Sequence[Any]) -> int | None:
    """The line of ``loc``, or of its nearest enclosing key that has one."""
    path = tuple(str(part) for part in loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None
