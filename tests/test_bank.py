"""Loading and validating content: every error kind names file, line and field; valid files still load."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.content import bank
from tests.content_fixtures import RUBRIC, question_yaml, write_content

ROOT = Path(__file__).resolve().parent.parent


def load(folders: dict[str, Path]) -> bank.Bundle:
    return bank.load_bundle([folders["question_bank"]], [folders["rubrics"]], [folders["knowledge"]])


def only_problem(bundle: bank.Bundle) -> bank.Problem:
    assert len(bundle.problems) == 1, [str(p) for p in bundle.problems]
    return bundle.problems[0]


def test_valid_content_loads_without_problems(tmp_path):
    bundle = load(write_content(tmp_path))
    assert bundle.problems == []
    assert sorted(bundle.questions) == ["q-one", "q-two"]
    assert list(bundle.rubrics) == ["demo-rubric"]
    assert bundle.knowledge["demo-notes"].section("updating-knowledge") is not None


def test_missing_field_names_line_and_path(tmp_path):
    text = question_yaml("q-one", "q-two").replace("    topic: fundamentals\n", "", 1)
    problem = only_problem(load(write_content(tmp_path, {"bad.yaml": text})))
    assert problem.field == "questions[0].topic"
    assert problem.message == "required field is missing"
    assert problem.line == 2  # the entry that lacks the field starts on line 2
    assert str(problem) == f"{problem.file}:2: questions[0].topic: required field is missing"
    assert problem.file.endswith("question_bank/bad.yaml")


def test_bad_question_spares_the_rest_of_its_file(tmp_path):
    text = question_yaml("q-one", "q-two").replace("difficulty: easy", "difficulty: brutal", 1)
    bundle = load(write_content(tmp_path, {"mixed.yaml": text}))
    problem = only_problem(bundle)
    assert problem.field == "questions[0].difficulty"
    assert problem.line == text.splitlines().index("    difficulty: brutal") + 1
    assert list(bundle.questions) == ["q-two"]


def test_wrong_type_is_reported(tmp_path):
    text = question_yaml("q-one").replace("rubrics: [demo-rubric]", "rubrics: demo-rubric")
    problem = only_problem(load(write_content(tmp_path, {"t.yaml": text})))
    assert problem.field == "questions[0].rubrics"
    assert "list" in problem.message


def test_unknown_field_is_reported(tmp_path):
    text = question_yaml("q-one").replace("    topic:", "    topik: x\n    topic:")
    problem = only_problem(load(write_content(tmp_path, {"t.yaml": text})))
    assert problem.field == "questions[0].topik"
    assert "unknown field" in problem.message


def test_duplicate_id_across_files_keeps_the_first(tmp_path):
    bundle = load(write_content(tmp_path, {"a.yaml": question_yaml("q-one"), "b.yaml": question_yaml("q-one")}))
    problem = only_problem(bundle)
    assert problem.file.endswith("b.yaml") and problem.line == 2 and problem.field == "questions[0].id"
    assert "duplicate question id 'q-one'" in problem.message and "a.yaml" in problem.message
    assert bundle.question_files["q-one"].endswith("a.yaml")


def test_duplicate_id_inside_one_file(tmp_path):
    text = question_yaml("q-one", "q-one")
    problem = only_problem(load(write_content(tmp_path, {"dup.yaml": text})))
    second_start = [i for i, line in enumerate(text.splitlines(), 1) if line.startswith("  - id:")][1]
    assert (problem.line, problem.field) == (second_start, "questions[1].id")


def test_unknown_rubric(tmp_path):
    text = question_yaml("q-one").replace("rubrics: [demo-rubric]", "rubrics: [demo-rubric, no-such-rubric]")
    bundle = load(write_content(tmp_path, {"r.yaml": text}))
    problem = only_problem(bundle)
    assert problem.field == "questions[0].rubrics[1]"
    assert "unknown rubric 'no-such-rubric'" in problem.message
    assert problem.line == text.splitlines().index("    rubrics: [demo-rubric, no-such-rubric]") + 1
    assert bundle.questions == {}


def test_unknown_criterion_lists_the_known_ones(tmp_path):
    text = question_yaml("q-one").replace("criterion: freshness\n      - prompt", "criterion: novelty\n      - prompt")
    problem = only_problem(load(write_content(tmp_path, {"c.yaml": text})))
    assert problem.field == "questions[0].follow_ups[0].criterion"
    assert "unknown criterion 'novelty'" in problem.message and "freshness" in problem.message
    assert problem.line == text.splitlines().index("        criterion: novelty") + 1


def test_qualified_criterion_resolves(tmp_path):
    text = question_yaml("q-one").replace("criterion: freshness", "criterion: demo-rubric.freshness")
    assert load(write_content(tmp_path, {"c.yaml": text})).problems == []


@pytest.mark.parametrize(
    ("reference", "expected"),
    [("missing-doc#retrieval-basics", "unknown knowledge document 'missing-doc'"),
     ("demo-notes#no-such-section", "has no section 'no-such-section'")],
)
def test_unknown_knowledge_reference(tmp_path, reference, expected):
    text = question_yaml("q-one").replace("demo-notes#retrieval-basics", reference)
    problem = only_problem(load(write_content(tmp_path, {"k.yaml": text})))
    assert problem.field == "questions[0].references[0]" and expected in problem.message


def test_yaml_syntax_error_names_the_line_and_spares_other_files(tmp_path):
    broken = question_yaml("q-one").replace("    topic: fundamentals", "    topic: [fundamentals")
    bundle = load(write_content(tmp_path, {"broken.yaml": broken, "fine.yaml": question_yaml("q-two")}))
    problem = only_problem(bundle)
    assert problem.file.endswith("broken.yaml") and problem.field == "yaml"
    assert "syntax error" in problem.message
    assert 4 <= problem.line <= 6
    assert list(bundle.questions) == ["q-two"]


def test_duplicate_yaml_key_is_reported(tmp_path):
    text = question_yaml("q-one").replace("    difficulty: easy\n", "    difficulty: easy\n    difficulty: hard\n")
    bundle = load(write_content(tmp_path, {"k.yaml": text}))
    assert [(p.field, p.line) for p in bundle.problems] == [("questions[0].difficulty", 6)]


def test_empty_and_oversized_files(tmp_path, monkeypatch):
    monkeypatch.setattr(bank, "MAX_FILE_BYTES", 2_000)
    big = "questions:\n" + "# padding\n" * 400
    bundle = load(write_content(tmp_path, {"empty.yaml": "", "big.yaml": big, "ok.yaml": question_yaml("q-one")}))
    messages = {Path(p.file).name: p.message for p in bundle.problems}
    assert messages["empty.yaml"] == "is empty"
    assert "the limit is" in messages["big.yaml"]
    assert list(bundle.questions) == ["q-one"]


def test_top_level_must_be_a_question_list(tmp_path):
    bundle = load(write_content(tmp_path, {"list.yaml": "- just\n- a list\n", "noq.yaml": "questions: []\n"}))
    fields = sorted((Path(p.file).name, p.field) for p in bundle.problems)
    assert fields == [("list.yaml", "(top level)"), ("noq.yaml", "questions")]


@pytest.mark.parametrize(
    ("change", "field", "needle"),
    [(("weight: 2", "weight: 0"), "criteria[0].weight", "greater than 0"),
     (("      4: Complete and precise.\n", ""), "criteria[0].levels", "exactly the levels"),
     (("criterion: separation\n    cap: 1", "criterion: nowhere\n    cap: 1"), "(top level)",
      "unknown criterion 'nowhere'"),
     (("  - id: freshness", "  - id: separation"), "(top level)", "duplicate id 'separation'")],
)
def test_rubric_errors(tmp_path, change, field, needle):
    folders = write_content(tmp_path)
    (folders["rubrics"] / "demo-rubric.yaml").write_text(RUBRIC.replace(*change))
    bundle = load(folders)
    rubric_problems = [p for p in bundle.problems if p.file.endswith("demo-rubric.yaml")]
    assert [p.field for p in rubric_problems] == [field]
    assert needle in rubric_problems[0].message
    # Questions that use the broken rubric cannot load, and say why.
    assert bundle.questions == {}
    assert any("unknown rubric 'demo-rubric'" in p.message for p in bundle.problems)


def test_knowledge_sections_ignore_fenced_code_and_deduplicate():
    doc = bank.parse_knowledge("# T\n\n## A\none\n```\n## not a heading\n```\n## A\ntwo\n", "t", "t.md")
    assert [s.id for s in doc.sections] == ["a", "a-2"]
    assert "## not a heading" in doc.sections[0].text


def test_text_without_headings_is_one_section():
    doc = bank.parse_knowledge("just some plain notes\nover two lines", "plain-notes", "plain-notes.txt")
    assert len(doc.sections) == 1 and doc.sections[0].text.startswith("just some")


def test_cli_validate_bundled_content_passes(run_cli):
    result = run_cli("validate")
    assert result.returncode == 0, result.stdout + result.stderr
    counts = [int(word) for word in result.stdout.split() if word.isdigit()]
    assert len(counts) == 3
    questions, rubrics, documents = counts
    assert questions >= 40 and rubrics >= 5 and documents >= 8


def test_cli_validate_broken_copy_fails_with_file_line_field(tmp_path, run_cli, monkeypatch):
    original = (ROOT / "question_bank" / "fundamentals.yaml").read_text()
    broken = tmp_path / "question_bank"
    broken.mkdir()
    lines = original.splitlines(keepends=True)
    rubric_line = next(i for i, line in enumerate(lines) if line.strip().startswith("rubrics:"))
    lines[rubric_line] = lines[rubric_line].split("rubrics:")[0] + "rubrics: [not-a-rubric]\n"
    (broken / "fundamentals.yaml").write_text("".join(lines))
    monkeypatch.chdir(tmp_path)  # problems name files relative to the working folder
    result = run_cli("validate", str(broken))
    assert result.returncode == 1
    # A copy repeats the bundled ids, which is reported too; the broken rubric has its own line.
    rubric = next(line for line in result.stdout.splitlines() if "unknown rubric" in line)
    assert rubric.startswith(f"question_bank/fundamentals.yaml:{rubric_line + 1}: questions[")
    assert "unknown rubric 'not-a-rubric'" in rubric


def test_every_bundled_reference_resolves():
    bundle = bank.load_bundle()
    assert bundle.problems == []
    for question in bundle.questions.values():
        assert len(question.key_points) >= 3 and len(question.follow_ups) >= 2
        for point in question.key_points:
            bank.resolve_criterion(point.criterion, question.rubrics, bundle.rubrics)
    assert "behavior-vs-knowledge" in bundle.rubrics
    assert len(bundle.topics()) >= 8
    assert {q.difficulty for q in bundle.questions.values()} == {"easy", "medium", "hard"}
