"""Questions and knowledge documents added from the app: checked exactly as the bank loader would, then saved.

All or nothing: when pasted or uploaded content has any problem, nothing from it is saved, not even the
questions that are fine on their own. The user fixes the text and submits it again, so the bank never
holds half of what they meant to add and the line numbers in the reported problems stay valid.

Every problem is a :class:`bank.Problem` printed as ``name:line: field: message``. Saving never replaces
an existing file: question files get a numbered name instead, and a document whose file name is taken is
refused (its file name is its id, so renaming it would silently change the id).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from simulator.content import bank
from simulator.content.bank import Bundle, Problem
from simulator.content.schemas import KnowledgeDoc, Question

MAX_NUMBERED_NAMES = 1000
PASTED_NAME = "pasted.yaml"
"""Name that pasted YAML is reported under; it is saved under its first question's id instead."""

EXAMPLE_QUESTION_YAML = """\
# One file may hold several questions; each id must be new to the bank.
questions:
  - id: my-policy-assistant-updates
    prompt: >-
      Our HR policies change every quarter and employees ask an assistant about them.
      Would you fine-tune a model on the policies or retrieve them at query time?
    topic: fundamentals
    difficulty: easy              # easy, medium or hard
    rubrics: [behavior-vs-knowledge]
    model_answer: >-
      Retrieve them. Policies are facts that change, so they belong in an index that can be
      updated the day a policy changes, and the answer can cite the paragraph it used. A
      fine-tune would freeze this quarter's rules into the weights and need a new training run
      each time. Fine-tuning only earns a place if the assistant must also follow a strict
      house style that prompting alone cannot hold.
    key_points:                   # at least three, each tied to a criterion of the rubrics above
      - text: Changing policies are knowledge, which retrieval supplies at query time.
        criterion: knowledge-placement
      - text: Updating the index is enough when a policy changes; no retraining is needed.
        criterion: knowledge-placement
      - text: Fine-tuning suits behaviour such as tone or format, not facts that move.
        criterion: behavior-placement
    follow_ups:                   # at least two
      - prompt: What would you do the day a policy is withdrawn?
        criterion: knowledge-placement
      - prompt: When would you add a fine-tune on top of retrieval here?
        criterion: combining-both
    references: [core-distinction#what-retrieval-augmented-generation-changes]
    tags: [example]
"""
"""A complete, valid question to start from (it uses the bundled rubric and notes)."""


class SaveError(ValueError):
    """Content that passed its checks but cannot be written; the message says why and what to do."""


@dataclass
class QuestionCheck:
    """What a YAML text would add to the bank; ``ok`` only when it has questions and no problems."""

    name: str
    text: str | None
    questions: list[Question] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    saved: Path | None = None

    @property
    def ok(self) -> bool:
        return bool(self.questions) and not self.problems


@dataclass
class DocumentCheck:
    """A knowledge document ready to save as ``filename`` (its id is the file name's stem)."""

    filename: str
    text: str | None
    document: KnowledgeDoc | None = None
    problems: list[Problem] = field(default_factory=list)
    saved: Path | None = None

    @property
    def ok(self) -> bool:
        return self.document is not None and not self.problems


# ---------------------------------------------------------------- questions


def submit_questions(data: str | bytes, name: str, bundle: Bundle, custom_dir: Path) -> QuestionCheck:
    """Check YAML questions and save them into ``custom_dir`` only if there is no problem at all.

    ``saved`` on the result is the new file, or None when nothing was written. Pasted text (named
    :data:`PASTED_NAME`) is saved under its first question's id; an upload keeps its own name.
    """
    check = check_question_yaml(data, name, bundle)
    if check.ok and check.text is not None:
        target = f"{check.questions[0].id}.yaml" if name == PASTED_NAME else name
        try:
            check.saved = save_questions(check.text, target, custom_dir)
        except (OSError, SaveError) as exc:
            check.problems.append(Problem(name, 1, "file", f"could not be saved: {exc}"))
    return check


def check_question_yaml(data: str | bytes, name: str, bundle: Bundle) -> QuestionCheck:
    """Check YAML questions as the bank loader would, plus ids against ``bundle``; nothing is saved here.

    Reports syntax errors, duplicate keys, schema errors, size limits (see :mod:`~simulator.content.schemas`),
    ids repeated inside the text or already in the bank (naming the file that has them), and rubrics, criteria
    or knowledge sections that do not exist. Problems name ``name``.
    """
    problems: list[Problem] = []
    if Path(name).suffix.lower() not in bank.YAML_SUFFIXES:
        problems.append(Problem(name, 1, "file", "questions must be in a .yaml or .yml file"))
        return QuestionCheck(name, None, problems=problems)
    text = decode_text(data, name, problems)
    if text is None:
        return QuestionCheck(name, None, problems=problems)
    loaded = bank.load_question_text(text, name, problems)
    scratch = Bundle(questions=dict(bundle.questions), rubrics=bundle.rubrics, knowledge=bundle.knowledge,
                     question_files=dict(bundle.question_files))
    added = bank.add_questions(scratch, loaded)
    problems.extend(scratch.problems)
    problems.sort(key=lambda p: p.line)
    return QuestionCheck(name, text, added, problems)


def save_questions(text: str, name: str, custom_dir: Path) -> Path:
    """Write checked YAML into ``custom_dir`` as ``<slug of name>.yaml``, numbering the name if it is taken.

    Call :func:`check_question_yaml` first: this only writes. The file appears whole or not at all.
    """
    stem = file_slug(name) or "questions"
    for n in range(1, MAX_NUMBERED_NAMES + 1):
        path = custom_dir / (f"{stem}.yaml" if n == 1 else f"{stem}-{n}.yaml")
        try:
            write_new_file(path, text)
        except FileExistsError:
            continue
        return path
    raise SaveError(f"{custom_dir} already has {MAX_NUMBERED_NAMES} files named {stem}*.yaml; "
                    "choose another file name")


# ---------------------------------------------------------------- knowledge documents


def submit_document(data: str | bytes, filename: str, bundle: Bundle, custom_dir: Path) -> DocumentCheck:
    """Check a note and save it into ``custom_dir`` only if there is no problem; ``saved`` says where."""
    check = check_document(data, filename, bundle)
    if check.ok:
        try:
            check.saved = save_document(check, custom_dir)
        except (OSError, SaveError) as exc:
            check.problems.append(Problem(filename, 1, "file", f"could not be saved: {exc}"))
    return check


def check_document(data: str | bytes, filename: str, bundle: Bundle) -> DocumentCheck:
    """Check a Markdown or plain-text note for the knowledge corpus; nothing is saved here.

    The file name becomes the document id (``My Notes.md`` -> ``my-notes``), which must not be in use.
    The text must be UTF-8 and have at least one section with text under it.
    """
    problems: list[Problem] = []
    suffix = Path(filename).suffix.lower()
    doc_id = file_slug(filename)
    if suffix not in bank.KNOWLEDGE_SUFFIXES:
        allowed = ", ".join(sorted(bank.KNOWLEDGE_SUFFIXES))
        problems.append(Problem(filename, 1, "file", f"only Markdown or plain text can be added ({allowed})"))
    if not doc_id:
        problems.append(Problem(filename, 1, "file", "the name needs a letter or digit: it becomes the document id"))
    if problems:
        return DocumentCheck(filename, None, problems=problems)
    text = decode_text(data, filename, problems)
    check = DocumentCheck(f"{doc_id}{suffix}", text, problems=problems)
    if text is not None:
        check.document = _parse_document(text, doc_id, filename, bundle, problems)
    return check


def _parse_document(text: str, doc_id: str, filename: str, bundle: Bundle,
                    problems: list[Problem]) -> KnowledgeDoc | None:
    if not text.strip():
        problems.append(Problem(filename, 1, "file", "is empty"))
        return None
    doc = bank.parse_knowledge(text, doc_id, filename)
    if not any(s.text for s in doc.sections):
        problems.append(Problem(filename, 1, "sections", "has headings but no text under them"))
    if doc_id in bundle.knowledge:
        used_by = bundle.knowledge[doc_id].path
        problems.append(Problem(filename, 1, "id", f"document id {doc_id!r} is already used by {used_by}; "
                                                   "rename the file to give it a new id"))
    return None if problems else doc


def save_document(check: DocumentCheck, custom_dir: Path) -> Path:
    """Write a document that passed :func:`check_document` into ``custom_dir``; never replaces a file."""
    if not check.ok or check.text is None:
        raise SaveError(f"{check.filename} has problems; fix them before saving")
    path = custom_dir / check.filename
    try:
        write_new_file(path, check.text)
    except FileExistsError:
        raise SaveError(f"{path} already exists (perhaps a file that failed to load); "
                        "rename your file or remove the old one") from None
    return path


# ---------------------------------------------------------------- shared


def file_slug(name: str) -> str:
    """A safe file stem from any name: no folders, accents folded to ASCII (``Évite.md`` -> ``evite``)."""
    folded = unicodedata.normalize("NFKD", Path(name).stem).encode("ascii", "ignore").decode()
    return bank.slugify(folded)


def decode_text(data: str | bytes, name: str, problems: list[Problem]) -> str | None:
    """``data`` as text within :data:`bank.MAX_FILE_BYTES`, or None with the reason added to ``problems``."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    too_big = bank.size_problem(name, len(raw))
    if too_big:
        problems.append(too_big)
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(name, line, "file", f"is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                                    "save it as UTF-8 and try again"))
        return None
    if "\x00" in text:
        problems.append(Problem(name, 1, "file", "looks like a binary file, not text"))
        return None
    return text


def write_new_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all; raise ``FileExistsError`` rather than replace a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise FileExistsError(path)
    # The temporary name ends in .tmp, so a bank load running meanwhile never reads it as content.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        _publish(Path(temp), path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def _publish(temp: Path, path: Path) -> None:
    """Give the finished temporary file its real name, failing if that name is already taken."""
    try:
        os.link(temp, path)  # unlike a rename, a hard link never replaces an existing file
    except FileExistsError:
        raise
    except OSError:
        # No hard links on this file system: exclusive create still never replaces, at the cost of
        # a moment in which the file exists but is not yet fully written.
        with path.open("xb") as handle:
            handle.write(temp.read_bytes())
