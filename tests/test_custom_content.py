"""Adding questions and notes from the app: checked like the bank, saved all or nothing, never overwriting."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from simulator.config import KNOWLEDGE_DIR, Settings
from simulator.content import bank
from simulator.content import intake as custom_content
from simulator.content.intake import PASTED_NAME, check_document, check_question_yaml, submit_document, submit_questions
from simulator.core import Simulator
from tests.content_fixtures import question_yaml, write_content


@pytest.fixture
def folders(tmp_path) -> dict[str, Path]:
    found = write_content(tmp_path)  # a bank holding q-one and q-two
    found["custom_questions"] = tmp_path / "custom-questions"
    found["custom_knowledge"] = tmp_path / "custom-knowledge"
    return found


def load(folders: dict[str, Path]) -> bank.Bundle:
    return bank.load_bundle([folders["question_bank"], folders["custom_questions"]], [folders["rubrics"]],
                            [folders["knowledge"], folders["custom_knowledge"]])


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# ---------------------------------------------------------------- questions


def test_valid_questions_are_saved_and_load_with_the_bank(folders):
    text = question_yaml("q-new", "q-newer")
    check = submit_questions(text, "My Extra Questions.yaml", load(folders), folders["custom_questions"])
    assert check.ok and check.problems == []
    assert [q.id for q in check.questions] == ["q-new", "q-newer"]
    assert check.saved == folders["custom_questions"] / "my-extra-questions.yaml"
    assert check.saved.read_text() == text
    reloaded = load(folders)
    assert reloaded.problems == []
    assert {"q-one", "q-two", "q-new", "q-newer"} == set(reloaded.questions)
    assert reloaded.question_files["q-new"].endswith("my-extra-questions.yaml")


def test_pasted_text_is_saved_under_its_first_question_id(folders):
    check = submit_questions(question_yaml("q-pasted"), PASTED_NAME, load(folders), folders["custom_questions"])
    assert check.saved is not None and check.saved.name == "q-pasted.yaml"


def test_the_example_question_passes_every_check():
    bundle = bank.load_bundle(question_paths=())  # the bundled rubrics and notes, no questions
    check = check_question_yaml(custom_content.EXAMPLE_QUESTION_YAML, "example.yaml", bundle)
    assert check.ok, [str(p) for p in check.problems]


BASE = question_yaml("q-new")

ERRORS = [
    # (change to BASE, field, line of the text the problem must name, words in the message)
    (("    topic: fundamentals", "    topic: [fundamentals"), "yaml", None, "syntax error"),
    (("    difficulty: easy\n", "    difficulty: easy\n    difficulty: hard\n"), "questions[0].difficulty",
     "    difficulty: hard", "key appears twice"),
    (("    topic: fundamentals\n", ""), "questions[0].topic", "  - id: q-new", "required field is missing"),
    (("difficulty: easy", "difficulty: brutal"), "questions[0].difficulty", "difficulty: brutal", "'easy'"),
    (("    topic:", "    topik: x\n    topic:"), "questions[0].topik", "topik: x", "unknown field"),
    (("rubrics: [demo-rubric]", "rubrics: [demo-rubric, no-such-rubric]"), "questions[0].rubrics[1]",
     "no-such-rubric", "unknown rubric 'no-such-rubric'"),
    (("criterion: freshness\n      - prompt", "criterion: novelty\n      - prompt"),
     "questions[0].follow_ups[0].criterion", "criterion: novelty", "unknown criterion 'novelty'"),
    (("demo-notes#retrieval-basics", "demo-notes#nowhere"), "questions[0].references[0]", "demo-notes#nowhere",
     "has no section 'nowhere'"),
]


@pytest.mark.parametrize(("change", "field", "needle", "words"), ERRORS, ids=[e[1] + "-" + e[3] for e in ERRORS])
def test_each_error_names_file_line_and_field_and_nothing_is_saved(folders, change, field, needle, words):
    text = BASE.replace(*change)
    check = submit_questions(text, "broken.yaml", load(folders), folders["custom_questions"])
    assert not check.ok and check.saved is None
    assert [p.field for p in check.problems] == [field], [str(p) for p in check.problems]
    problem = check.problems[0]
    assert words in problem.message
    if needle is None:
        assert 4 <= problem.line <= 6
    else:
        assert problem.line == line_of(text, needle)
    assert str(problem).startswith(f"broken.yaml:{problem.line}: {field}: ")
    assert files_in(folders["custom_questions"]) == []


def test_one_bad_question_keeps_the_good_ones_from_being_saved(folders):
    text = question_yaml("q-good", "q-bad").replace("difficulty: easy", "difficulty: brutal", 2).replace(
        "difficulty: brutal", "difficulty: easy", 1)
    check = submit_questions(text, PASTED_NAME, load(folders), folders["custom_questions"])
    assert [q.id for q in check.questions] == ["q-good"]  # it was fine on its own...
    assert [p.field for p in check.problems] == ["questions[1].difficulty"]
    assert check.saved is None and files_in(folders["custom_questions"]) == []  # ...but nothing is saved


def test_duplicate_id_inside_the_text(folders):
    text = question_yaml("q-new", "q-new")
    check = check_question_yaml(text, PASTED_NAME, load(folders))
    second = [i for i, line in enumerate(text.splitlines(), 1) if line == "  - id: q-new"][1]
    assert [str(p) for p in check.problems] == [
        f"pasted.yaml:{second}: questions[1].id: duplicate question id 'q-new' (first in pasted.yaml)"]


def test_duplicate_id_against_the_bank_names_the_bank_file(folders):
    check = submit_questions(question_yaml("q-two"), "again.yaml", load(folders), folders["custom_questions"])
    problem, = check.problems
    assert (problem.file, problem.line, problem.field) == ("again.yaml", 2, "questions[0].id")
    assert "duplicate question id 'q-two'" in problem.message and "question_bank/good.yaml" in problem.message
    assert check.saved is None


def test_a_question_saved_earlier_counts_as_part_of_the_bank(folders):
    assert submit_questions(question_yaml("q-new"), "a.yaml", load(folders), folders["custom_questions"]).saved
    again = submit_questions(question_yaml("q-new"), "a.yaml", load(folders), folders["custom_questions"])
    assert again.saved is None and "duplicate question id 'q-new'" in again.problems[0].message
    assert files_in(folders["custom_questions"]) == ["a.yaml"]


@pytest.mark.parametrize("as_bytes", [False, True])
def test_oversized_text_is_refused_before_parsing(folders, monkeypatch, as_bytes):
    monkeypatch.setattr(bank, "MAX_FILE_BYTES", 2_000)
    text = question_yaml("q-new") + "# padding\n" * 300
    check = submit_questions(text.encode() if as_bytes else text, "big.yaml", load(folders),
                             folders["custom_questions"])
    problem, = check.problems
    assert str(problem).startswith("big.yaml:1: file: is 0.0 MB; the limit is 0.002 MB")
    assert check.saved is None and files_in(folders["custom_questions"]) == []


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [(b"questions:\n  - id: caf\xe9\n", "latin1.yaml", "latin1.yaml:2: file: is not UTF-8 text"),
     ("", "empty.yaml", "empty.yaml:1: file: is empty"),
     ("- just\n- a list\n", "list.yaml", "list.yaml:1: (top level): must be a mapping"),
     (question_yaml("q-new"), "questions.json", "questions.json:1: file: questions must be in a .yaml or .yml")],
)
def test_unreadable_or_misnamed_input(folders, data, name, expected):
    check = check_question_yaml(data, name, load(folders))
    assert [str(p)[: len(expected)] for p in check.problems] == [expected]


def test_byte_order_mark_is_accepted_and_not_saved(folders):
    check = submit_questions(b"\xef\xbb\xbf" + question_yaml("q-bom").encode(), "bom.yaml", load(folders),
                             folders["custom_questions"])
    assert check.saved is not None and check.saved.read_bytes().startswith(b"questions:")


def test_saving_never_overwrites_an_existing_file(folders):
    custom = folders["custom_questions"]
    custom.mkdir()
    (custom / "mine.yaml").write_text("# my own notes, untouched\n")
    first = custom_content.save_questions(question_yaml("q-a"), "mine.yaml", custom)
    second = custom_content.save_questions(question_yaml("q-b"), "Mine.YAML", custom)
    assert (first.name, second.name) == ("mine-2.yaml", "mine-3.yaml")
    assert (custom / "mine.yaml").read_text() == "# my own notes, untouched\n"
    assert files_in(custom) == ["mine-2.yaml", "mine-3.yaml", "mine.yaml"]  # no temporary files left over


def test_unsafe_file_names_are_slugified(folders):
    path = custom_content.save_questions(question_yaml("q-a"), "../../etc/Évil Name!.yml", folders["custom_questions"])
    assert path.parent == folders["custom_questions"] and path.name == "evil-name.yaml"


def test_write_new_file_refuses_an_existing_path(tmp_path):
    target = tmp_path / "kept.md"
    target.write_text("original")
    with pytest.raises(FileExistsError):
        custom_content.write_new_file(target, "replacement")
    assert target.read_text() == "original" and files_in(tmp_path) == ["kept.md"]


# ---------------------------------------------------------------- knowledge documents

NOTE = "# Vector stores\n\n## Choosing a store\nPick the store your team already runs.\n\n## Sharding\nSplit by tenant.\n"


def test_valid_document_is_saved_under_its_id_and_loads(folders):
    check = submit_document(NOTE.encode(), "Vector Stores.md", load(folders), folders["custom_knowledge"])
    assert check.ok and check.saved == folders["custom_knowledge"] / "vector-stores.md"
    assert check.document is not None and [s.id for s in check.document.sections] == ["choosing-a-store", "sharding"]
    reloaded = load(folders)
    assert reloaded.problems == []
    assert reloaded.knowledge["vector-stores"].title == "Vector stores"


def test_plain_text_without_headings_is_one_section(folders):
    check = check_document("Just a paragraph of notes.", "loose notes.txt", load(folders))
    assert check.ok and check.filename == "loose-notes.txt"
    assert [s.heading for s in check.document.sections] == ["Loose notes"]


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [(b"%PDF-1.7 ...", "paper.pdf", "paper.pdf:1: file: only Markdown or plain text can be added"),
     (NOTE, "!!!.md", "!!!.md:1: file: the name needs a letter or digit"),
     (b"# Notes\n\n\xff\xfe", "bad.md", "bad.md:3: file: is not UTF-8 text"),
     ("  \n\n", "blank.md", "blank.md:1: file: is empty"),
     ("# Title\n\n## Only headings\n", "hollow.md", "hollow.md:1: sections: has headings but no text"),
     ("text\x00with a null byte", "binary.txt", "binary.txt:1: file: looks like a binary file"),
     ("# Demo\n\nNew text under a taken id.\n", "Demo Notes.md",
      "Demo Notes.md:1: id: document id 'demo-notes' is already used by")],
)
def test_invalid_documents_are_reported_and_not_saved(folders, data, filename, expected):
    check = submit_document(data, filename, load(folders), folders["custom_knowledge"])
    assert [str(p)[: len(expected)] for p in check.problems] == [expected]
    assert check.saved is None and files_in(folders["custom_knowledge"]) == []


def test_oversized_document_is_refused(folders, monkeypatch):
    monkeypatch.setattr(bank, "MAX_FILE_BYTES", 100)
    check = submit_document("# Big\n\n" + "word " * 50, "big.md", load(folders), folders["custom_knowledge"])
    assert [p.field for p in check.problems] == ["file"] and "the limit is" in check.problems[0].message
    assert check.saved is None


def test_document_whose_file_exists_but_did_not_load_is_refused(folders):
    custom = folders["custom_knowledge"]
    custom.mkdir()
    (custom / "notes.md").write_text("")  # empty, so the bank skipped it and its id looks free
    check = submit_document(NOTE, "notes.md", load(folders), custom)
    assert check.saved is None
    assert str(check.problems[0]).startswith("notes.md:1: file: could not be saved:")
    assert "already exists" in check.problems[0].message
    assert (custom / "notes.md").read_text() == ""


def test_saved_document_is_found_after_the_index_is_rebuilt(runtime, warm_data_dir, tmp_path):
    custom = tmp_path / "custom-knowledge"
    data = shutil.copytree(warm_data_dir, tmp_path / "data")  # the bundled notes' index is already there
    settings = Settings(data_dir=data, knowledge_dirs=(KNOWLEDGE_DIR, custom), question_dirs=(),
                        custom_knowledge_dir=custom)
    rt = Simulator(settings, embedder=runtime.embedder)
    before = rt.index.stats.chunks
    note = "# Glacier notes\n\n## Quarzwelle caching\nThe quarzwelle layer keeps hot embeddings close to the GPU.\n"
    check = submit_document(note, "glacier-notes.md", rt.bundle, settings.custom_knowledge_dir)
    assert check.saved is not None
    rt.reload_content()
    calls: list[tuple[int, int]] = []
    index = rt.build_index(progress=lambda done, total: calls.append((done, total)))
    assert (index.stats.chunks, index.stats.embedded, index.stats.reused) == (before + 1, 1, before)
    assert calls and calls[-1] == (1, 1)
    top = index.search("quarzwelle layer", k=3)[0]
    assert (top.document, top.section) == ("glacier-notes", "quarzwelle-caching")
