"""YAML with line numbers: parse content files safely and turn every error into a ``file:line: field`` problem.

The parser keeps the node tree next to the data, so a pydantic error location such as
``questions[2].key_points`` can be traced back to the line it came from. It also stops at the first list or
mapping longer than :data:`~simulator.content.schemas.MAX_YAML_ITEMS`, so an absurd file costs a moment,
not a full parse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from simulator.content.schemas import LIMITS_CONTEXT, LIST_LIMITS, MAX_YAML_ITEMS


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file, pointing at the line to fix."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


@dataclass
class YamlDoc:
    """Parsed YAML: the data, the node tree it came from and the name problems are reported under."""

    path: str
    data: Any
    node: yaml.Node


class _TooManyItems(yaml.YAMLError):
    def __init__(self, line: int, loc: tuple):
        super().__init__(f"more than {MAX_YAML_ITEMS} entries")
        self.line, self.loc = line, loc


class _CappedLoader(yaml.SafeLoader):
    """A safe loader that refuses any list or mapping longer than MAX_YAML_ITEMS while composing it."""

    def __init__(self, text: str):
        super().__init__(text)
        self._trail: list[Any] = []  # how the node being composed was reached: list indexes and key nodes

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if parent is not None and len(parent.value) >= MAX_YAML_ITEMS:
            raise _TooManyItems(parent.start_mark.line + 1, self._location())
        self._trail.append(index)
        try:
            return super().compose_node(parent, index)
        finally:
            self._trail.pop()

    def _location(self) -> tuple:
        # A mapping's key is composed with index None and its value with the key node as index.
        return tuple(p.value if isinstance(p, yaml.Node) else p for p in self._trail if p is not None)


def too_many_items_message(loc: tuple) -> str:
    last = loc[-1] if loc else None
    limit = LIST_LIMITS.get(last) if isinstance(last, str) else None
    found = f"has more than {MAX_YAML_ITEMS:,} entries"
    return f"{found}; the limit is {limit:,}" if limit else f"{found}, more than any content file needs"


def parse_yaml_text(text: str, shown: str, problems: list[Problem]) -> YamlDoc | None:
    """Parse YAML safely, keeping the node tree so errors can name a line."""
    try:
        loader = _CappedLoader(text)  # rejects control characters (NUL, ESC...) right here
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        problems.append(Problem(shown, line, "yaml", f"syntax error: character #x{exc.character:04x} is not allowed"))
        return None
    try:
        node = loader.get_single_node()
        if node is None:
            problems.append(Problem(shown, 1, "file", "is empty"))
            return None
        _check_duplicate_keys(node, shown, problems)
        return YamlDoc(shown, loader.construct_document(node), node)
    except _TooManyItems as exc:
        problems.append(Problem(shown, exc.line, field_path(exc.loc), too_many_items_message(exc.loc)))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        reason = " ".join(p for p in (exc.context, exc.problem) if p)
        problems.append(Problem(shown, line, "yaml", f"syntax error: {reason}"))
    except yaml.YAMLError as exc:
        problems.append(Problem(shown, 1, "yaml", f"syntax error: {exc}"))
    except RecursionError:
        problems.append(Problem(shown, 1, "yaml", "syntax error: the nesting is too deep"))
    except ValueError as exc:  # a scalar resolved as a date or number that is not one, e.g. 2024-13-45
        problems.append(Problem(shown, _constructing_line(exc), "yaml",
                                f"cannot read a value ({exc}); put it in quotes if it is text"))
    finally:
        loader.dispose()
    return None


def _constructing_line(exc: BaseException) -> int:
    """Line of the deepest YAML node that was being constructed when ``exc`` was raised (1 when unknown)."""
    line, frame = 1, exc.__traceback__
    while frame is not None:
        node = frame.tb_frame.f_locals.get("node")
        if isinstance(node, yaml.Node):
            line = node.start_mark.line + 1
        frame = frame.tb_next
    return line


def _check_duplicate_keys(node: yaml.Node, shown: str, problems: list[Problem], path: str = "",
                          checked: set[int] | None = None) -> None:
    # An alias is the same node object as its anchor: check it once, or a few aliased lines
    # ("billion laughs") would take exponential time.
    checked = set() if checked is None else checked
    if id(node) in checked:
        return
    checked.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            child = f"{path}.{name}" if path else name
            if name in seen:
                problems.append(Problem(shown, key.start_mark.line + 1, child, "key appears twice in this mapping"))
            seen.add(name)
            _check_duplicate_keys(value, shown, problems, child, checked)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicate_keys(item, shown, problems, f"{path}[{i}]", checked)


def line_of(node: yaml.Node, loc: Iterable[Any]) -> int:
    """1-based line of the deepest node that ``loc`` (a pydantic error location) reaches."""
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node = child
    return node.start_mark.line + 1


def _child(node: yaml.Node, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if str(key.value) == str(part):
                return value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]
    return None


def field_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


_FRIENDLY = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field (check the spelling)",
}


def _validation_problems(exc: ValidationError, doc: YamlDoc, prefix: tuple = ()) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = _FRIENDLY.get(err["type"], err["msg"].removeprefix("Value error, "))
        problems.append(Problem(doc.path, line_of(doc.node, loc), field_path(loc), message))
    return problems


def validate_node(model: type[BaseModel], data: Any, doc: YamlDoc, prefix: tuple = ()) -> tuple[Any, list[Problem]]:
    """``data`` validated as ``model`` with the content limits on, or None and the problems found."""
    try:
        return model.model_validate(data, context=LIMITS_CONTEXT), []
    except ValidationError as exc:
        return None, _validation_problems(exc, doc, prefix)
