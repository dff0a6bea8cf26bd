"""Load and cross-check the question bank, rubrics and knowledge notes.

Every problem is reported as ``file:line: field: message`` and never stops the rest from
loading: a bad file, or one bad question inside a file, is skipped while the others load.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from simulator.config import KNOWLEDGE_DIR, QUESTION_DIR, RUBRIC_DIR
from simulator.content.schemas import MAX_FILE_BYTES, KnowledgeDoc, KnowledgeSection, Question, QuestionFile, Rubric
from simulator.content.yamldoc import Problem, field_path, line_of, parse_yaml_text, validate_node

YAML_SUFFIXES = {".yaml", ".yml"}
KNOWLEDGE_SUFFIXES = {".md", ".markdown", ".txt"}


@dataclass
class Bundle:
    """Everything that loaded, plus every problem found on the way."""

    questions: dict[str, Question] = field(default_factory=dict)
    rubrics: dict[str, Rubric] = field(default_factory=dict)
    knowledge: dict[str, KnowledgeDoc] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    question_files: dict[str, str] = field(default_factory=dict)
    """The file each loaded question came from, by id."""
    rubric_files: dict[str, str] = field(default_factory=dict)
    """The file each loaded rubric came from, by id."""

    def summary(self) -> str:
        return (
            f"{len(self.questions)} questions, {len(self.rubrics)} rubrics, "
            f"{len(self.knowledge)} knowledge documents"
        )

    def topics(self) -> list[str]:
        return sorted({q.topic for q in self.questions.values()})

    def rubrics_for(self, question: Question) -> list[Rubric]:
        return [self.rubrics[r] for r in question.rubrics]


class ContentError(ValueError):
    """Content that cannot be used; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


# ---------------------------------------------------------------- reading files


def display_path(path: Path) -> str:
    """How problems name ``path``: relative to the working folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def size_problem(shown: str, size: int) -> Problem | None:
    """Why a file of ``size`` bytes is refused, or None when it is within MAX_FILE_BYTES."""
    if size <= MAX_FILE_BYTES:
        return None
    return Problem(shown, 1, "file", f"is {size / 1e6:.1f} MB; the limit is {MAX_FILE_BYTES / 1e6:g} MB")


def _read_text(path: Path, problems: list[Problem]) -> str | None:
    shown = display_path(path)
    try:
        with path.open("rb") as handle:  # never more than the limit, even if the file grows meanwhile
            raw = handle.read(MAX_FILE_BYTES + 1)
        too_big = size_problem(shown, max(len(raw), path.stat().st_size))
        if too_big:
            problems.append(too_big)
            return None
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(shown, 1, "file", f"is not UTF-8 text ({exc.reason} at byte {exc.start})"))
    except OSError as exc:
        problems.append(Problem(shown, 1, "file", f"cannot be read: {exc.strerror}"))
    return None


# ---------------------------------------------------------------- files of each kind


def iter_files(paths: Iterable[Path], suffixes: set[str]) -> Iterator[Path]:
    """Files of ``paths`` in load order. Inside a folder, its own files come before its subfolders', so the
    bundled files load before ``question_bank/custom/`` and an id they share is reported on the custom file."""
    for path in paths:
        if path.is_dir():
            found = (p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            yield from sorted(found, key=lambda p: (len(p.relative_to(path).parts), p))
        elif path.is_file():
            yield path


@dataclass(frozen=True)
class LoadedQuestion:
    """A question that validated on its own, with where it came from."""

    question: Question
    file: str
    index: int
    node: yaml.Node

    def locate(self, loc: tuple = ()) -> tuple[int, str]:
        full = ("questions", self.index, *loc)
        return line_of(self.node, full), field_path(full)


def load_question_file(path: Path, problems: list[Problem]) -> list[LoadedQuestion]:
    text = _read_text(path, problems)
    return [] if text is None else load_question_text(text, display_path(path), problems)


def load_question_text(text: str, shown: str, problems: list[Problem]) -> list[LoadedQuestion]:
    """Questions that validate on their own; the invalid ones become problems."""
    doc = parse_yaml_text(text, shown, problems)
    if doc is None:
        return []
    if not isinstance(doc.data, dict):
        problems.append(Problem(shown, 1, "(top level)", "must be a mapping with a 'questions' list"))
        return []
    container, found = validate_node(QuestionFile, doc.data, doc)
    problems.extend(found)
    if container is None:
        return []
    loaded = []
    for i, entry in enumerate(container.questions):
        question, found = validate_node(Question, entry, doc, ("questions", i))
        problems.extend(found)
        if question is not None:
            loaded.append(LoadedQuestion(question, shown, i, doc.node))
    return loaded


def load_rubric_file(path: Path, problems: list[Problem]) -> tuple[Rubric, int] | None:
    """The rubric in ``path`` and the line of its id, or None with the reasons added to ``problems``."""
    text = _read_text(path, problems)
    if text is None:
        return None
    doc = parse_yaml_text(text, display_path(path), problems)
    if doc is None:
        return None
    if not isinstance(doc.data, dict):
        problems.append(Problem(doc.path, 1, "(top level)", "a rubric file must be a mapping"))
        return None
    rubric, found = validate_node(Rubric, doc.data, doc)
    problems.extend(found)
    return None if rubric is None else (rubric, line_of(doc.node, ("id",)))


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def parse_knowledge(text: str, doc_id: str, path: str) -> KnowledgeDoc:
    """Split Markdown into sections at headings; text without headings is one section."""
    sections: list[dict] = []
    current: dict | None = None
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            current = {"heading": match.group(2), "level": len(match.group(1)), "line": number, "body": []}
            sections.append(current)
        else:
            if current is None:
                current = {"heading": doc_id.replace("-", " ").capitalize(), "level": 1, "line": 1, "body": []}
                sections.append(current)
            current["body"].append(line)
    title = next((s["heading"] for s in sections if s["level"] == 1), sections[0]["heading"] if sections else doc_id)
    return KnowledgeDoc(id=doc_id, title=title, path=path, sections=_unique_sections(sections))


def _unique_sections(raw: list[dict]) -> list[KnowledgeSection]:
    used: dict[str, int] = {}
    out = []
    for s in raw:
        body = "\n".join(s["body"]).strip()
        if not body and s["level"] == 1 and len(raw) > 1:
            continue  # a bare title line carries no passage of its own
        slug = slugify(s["heading"]) or "section"
        used[slug] = used.get(slug, 0) + 1
        if used[slug] > 1:
            slug = f"{slug}-{used[slug]}"
        out.append(KnowledgeSection(id=slug, heading=s["heading"], level=s["level"], text=body, line=s["line"]))
    return out


def load_knowledge_file(path: Path, problems: list[Problem]) -> KnowledgeDoc | None:
    text = _read_text(path, problems)
    if text is None:
        return None
    shown = display_path(path)
    if not text.strip():
        problems.append(Problem(shown, 1, "file", "is empty"))
        return None
    doc = parse_knowledge(text, slugify(path.stem), shown)
    if not any(s.text for s in doc.sections):
        problems.append(Problem(shown, 1, "sections", "has headings but no text under them"))
        return None
    return doc


# ---------------------------------------------------------------- the whole bundle


def resolve_criterion(ref: str, rubric_ids: list[str], rubrics: dict[str, Rubric]) -> tuple[str, str]:
    """Turn ``criterion`` or ``rubric.criterion`` into (rubric id, criterion id) among ``rubric_ids``."""
    if "." in ref:
        rubric_id, criterion_id = ref.split(".", 1)
        if rubric_id not in rubric_ids:
            raise ValueError(f"rubric {rubric_id!r} is not one of this question's rubrics {rubric_ids}")
        candidates = [rubric_id]
    else:
        criterion_id, candidates = ref, [r for r in rubric_ids if r in rubrics]
    owners = [r for r in candidates if r in rubrics and any(c.id == criterion_id for c in rubrics[r].criteria)]
    if not owners:
        known = sorted(c.id for r in candidates if r in rubrics for c in rubrics[r].criteria)
        raise ValueError(f"unknown criterion {criterion_id!r} (this question's rubrics have: {', '.join(known)})")
    if len(owners) > 1:
        raise ValueError(f"criterion {criterion_id!r} is in several rubrics {owners}; write 'rubric.criterion'")
    return owners[0], criterion_id


def question_reference_problems(
    question: Question, rubrics: dict[str, Rubric], knowledge: dict[str, KnowledgeDoc]
) -> list[tuple[tuple, str]]:
    """(location, message) for every reference in ``question`` that does not resolve."""
    found: list[tuple[tuple, str]] = []
    for i, rubric_id in enumerate(question.rubrics):
        if rubric_id not in rubrics:
            found.append((("rubrics", i), f"unknown rubric {rubric_id!r} (known: {', '.join(sorted(rubrics))})"))
    if found:
        # Criteria resolve against the question's rubrics: with one unknown, every criterion check would
        # repeat the same typo. They are checked once the rubric list is right.
        return found + _reference_problems(question, knowledge)
    for name in ("key_points", "follow_ups", "misconceptions"):
        for i, item in enumerate(getattr(question, name)):
            if item.criterion is None:
                continue
            try:
                resolve_criterion(item.criterion, question.rubrics, rubrics)
            except ValueError as exc:
                found.append(((name, i, "criterion"), str(exc)))
    return found + _reference_problems(question, knowledge)


def _reference_problems(question: Question, knowledge: dict[str, KnowledgeDoc]) -> list[tuple[tuple, str]]:
    return [(("references", i), message) for i, ref in enumerate(question.references)
            if (message := knowledge_reference_problem(ref, knowledge))]


def knowledge_reference_problem(ref: str, knowledge: dict[str, KnowledgeDoc]) -> str | None:
    doc_id, _, section_id = ref.partition("#")
    doc = knowledge.get(doc_id)
    if doc is None:
        return f"unknown knowledge document {doc_id!r}"
    if section_id and doc.section(section_id) is None:
        return f"document {doc_id!r} has no section {section_id!r} (it has: {', '.join(s.id for s in doc.sections)})"
    return None


def load_bundle(
    question_paths: Iterable[Path] = (QUESTION_DIR,),
    rubric_paths: Iterable[Path] = (RUBRIC_DIR,),
    knowledge_paths: Iterable[Path] = (KNOWLEDGE_DIR,),
) -> Bundle:
    bundle = Bundle()
    _add_knowledge(bundle, knowledge_paths)
    _add_rubrics(bundle, rubric_paths)
    for path in iter_files(question_paths, YAML_SUFFIXES):
        add_questions(bundle, load_question_file(path, bundle.problems))
    return bundle


def _add_knowledge(bundle: Bundle, paths: Iterable[Path]) -> None:
    for path in iter_files(paths, KNOWLEDGE_SUFFIXES):
        doc = load_knowledge_file(path, bundle.problems)
        if doc is None:
            continue
        if doc.id in bundle.knowledge:
            first = bundle.knowledge[doc.id].path
            bundle.problems.append(Problem(doc.path, 1, "id", f"document id {doc.id!r} is already used by {first}"))
            continue
        bundle.knowledge[doc.id] = doc


def _add_rubrics(bundle: Bundle, paths: Iterable[Path]) -> None:
    for path in iter_files(paths, YAML_SUFFIXES):
        loaded = load_rubric_file(path, bundle.problems)
        if loaded is None:
            continue
        (rubric, line), shown = loaded, display_path(path)
        if rubric.id in bundle.rubrics:
            first = bundle.rubric_files[rubric.id]
            bundle.problems.append(Problem(shown, line, "id", f"duplicate rubric id {rubric.id!r} (first in {first})"))
            continue
        bundle.rubrics[rubric.id] = rubric
        bundle.rubric_files[rubric.id] = shown


def add_questions(bundle: Bundle, loaded: list[LoadedQuestion]) -> list[Question]:
    """Add questions whose ids are new and whose references resolve; report the others."""
    added = []
    for item in loaded:
        question = item.question
        bad = question_reference_problems(question, bundle.rubrics, bundle.knowledge)
        if question.id in bundle.questions:
            first = bundle.question_files[question.id]
            bad.insert(0, (("id",), f"duplicate question id {question.id!r} (first in {first})"))
        for loc, message in bad:
            bundle.problems.append(Problem(item.file, *item.locate(loc), message))
        if bad:
            continue
        bundle.questions[question.id] = question
        bundle.question_files[question.id] = item.file
        added.append(question)
    return added
