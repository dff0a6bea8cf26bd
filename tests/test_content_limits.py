"""Content limits and id collisions (issue 14).

Every limit is checked one past it (refused, with ``file:line: field: message`` naming the count and the limit)
and right at it (accepted), through the same code the bank loader, ``validate`` and the upload form use. A custom
question, rubric or note whose id is already taken is reported on the custom file, never silently skipped, and
the bundled one keeps its id.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.config import KNOWLEDGE_DIR, QUESTION_DIR, RUBRIC_DIR
from simulator.content import bank, schemas
from simulator.content.intake import check_document, check_question_yaml, submit_questions
from simulator.content.schemas import LIMITS_CONTEXT, Question
from tests.content_fixtures import KNOWLEDGE, RUBRIC, question_yaml, write_content

BASE = yaml.safe_load(question_yaml("q-base"))["questions"][0]
NAME = "limits.yaml"


@pytest.fixture
def folders(tmp_path) -> dict[str, Path]:
    found = write_content(tmp_path)
    (found["question_bank"] / "good.yaml").unlink()  # the demo rubric and notes, no questions
    return found


def demo_bundle(folders: dict[str, Path]) -> bank.Bundle:
    return bank.load_bundle([folders["question_bank"]], [folders["rubrics"]], [folders["knowledge"]])


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, width=1_000_000)


def question(qid: str = "q-base", **changes: Any) -> dict[str, Any]:
    return {**yaml.safe_load(dump(BASE)), "id": qid, **changes}


def line_after(text: str, key: str) -> int:
    """1-based line of the first item of the block list under the first ``key:`` line."""
    lines = text.splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip() == f"{key}:" or line.strip() == f"- {key}:") + 1


def line_with(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def problems_of(text: str, folders: dict[str, Path]) -> list[str]:
    return [str(p) for p in check_question_yaml(text, NAME, demo_bundle(folders)).problems]


# ---------------------------------------------------------------- 7,000 key points


def seven_thousand_key_points() -> str:
    points = [{"text": f"Key point {i} says retrieval supplies facts.", "criterion": "separation"}
              for i in range(7_000)]
    return dump({"questions": [question(key_points=points)]})


def test_seven_thousand_key_points_are_refused_in_well_under_a_second(folders):
    text = seven_thousand_key_points()
    bundle = demo_bundle(folders)
    started = time.perf_counter()
    check = submit_questions(text, NAME, bundle, folders["question_bank"] / "custom")
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"took {elapsed:.2f} s"
    assert check.saved is None and not (folders["question_bank"] / "custom").exists()
    line = line_after(text, "key_points")
    assert [str(p) for p in check.problems] == [
        f"{NAME}:{line}: questions[0].key_points: has more than {schemas.MAX_YAML_ITEMS} entries; "
        f"the limit is {schemas.MAX_KEY_POINTS}"]


def test_the_bank_loader_refuses_the_file_quickly_and_loads_the_rest(folders):
    (folders["question_bank"] / "big.yaml").write_text(seven_thousand_key_points())
    (folders["question_bank"] / "good.yaml").write_text(question_yaml("q-good"))
    started = time.perf_counter()
    bundle = demo_bundle(folders)
    assert time.perf_counter() - started < 0.5
    assert list(bundle.questions) == ["q-good"]
    problem, = bundle.problems
    assert problem.file.endswith("big.yaml") and problem.field == "questions[0].key_points"


# ---------------------------------------------------------------- every list and text limit


def key_points(n: int) -> dict:
    return {"key_points": [{"text": f"Point {i}.", "criterion": "separation"} for i in range(n)]}


def follow_ups(n: int) -> dict:
    return {"follow_ups": [{"prompt": f"Follow-up {i}?", "criterion": "freshness"} for i in range(n)]}


def misconceptions(n: int, phrasings: int = 0) -> dict:
    return {"misconceptions": [{"id": f"m-{i}", "claim": f"Wrong claim {i}.", "correction": "What is true.",
                                "criterion": "separation", "phrasings": [f"Wording {j}." for j in range(phrasings)]}
                               for i in range(n)]}


def expects(n: int) -> dict:
    return {"follow_ups": [{**BASE["follow_ups"][0], "expects": [f"Claim {i}." for i in range(n)]},
                           BASE["follow_ups"][1]]}


LIST_LIMITS = [  # (YAML key of the list, its field path, limit, unit, changes for a question with n entries)
    ("key_points", "questions[0].key_points", schemas.MAX_KEY_POINTS, "key points", key_points),
    ("follow_ups", "questions[0].follow_ups", schemas.MAX_FOLLOW_UPS, "follow-ups", follow_ups),
    ("misconceptions", "questions[0].misconceptions", schemas.MAX_MISCONCEPTIONS, "misconceptions", misconceptions),
    ("expects", "questions[0].follow_ups[0].expects", schemas.MAX_EXPECTED_CLAIMS, "expected claims", expects),
    ("phrasings", "questions[0].misconceptions[0].phrasings", schemas.MAX_PHRASINGS, "phrasings",
     lambda n: misconceptions(1, phrasings=n)),
    ("references", "questions[0].references", schemas.MAX_SHORT_LIST, "references",
     lambda n: {"references": ["demo-notes#retrieval-basics"] * n}),
    ("tags", "questions[0].tags", schemas.MAX_SHORT_LIST, "tags", lambda n: {"tags": [f"tag-{i}" for i in range(n)]}),
]


@pytest.mark.parametrize(("key", "field", "limit", "unit", "changes"), LIST_LIMITS, ids=[c[0] for c in LIST_LIMITS])
def test_each_list_limit_is_accepted_at_the_limit_and_refused_one_past_it(folders, key, field, limit, unit, changes):
    assert problems_of(dump({"questions": [question(**changes(limit))]}), folders) == []
    text = dump({"questions": [question(**changes(limit + 1))]})
    line = line_after(text, key)
    assert problems_of(text, folders) == [f"{NAME}:{line}: {field}: has {limit + 1} {unit}; the limit is {limit}"]


def test_questions_per_file(folders):
    limit = schemas.MAX_QUESTIONS_PER_FILE
    check = check_question_yaml(dump({"questions": [question(f"q-{i}") for i in range(limit)]}), NAME,
                                demo_bundle(folders))
    assert check.ok and len(check.questions) == limit
    too_many = dump({"questions": [question(f"q-{i}") for i in range(limit + 1)]})
    assert problems_of(too_many, folders) == [
        f"{NAME}:2: questions: has {limit + 1} questions; the limit is {limit}"]


def set_text(path: tuple, value: str) -> dict:
    data = question()
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return data


TEXT_LIMITS = [  # (where in the question, limit)
    (("prompt",), schemas.MAX_PROSE_CHARS),
    (("model_answer",), schemas.MAX_MODEL_ANSWER_CHARS),
    (("key_points", 0, "text"), schemas.MAX_CLAIM_CHARS),
    (("follow_ups", 1, "prompt"), schemas.MAX_CLAIM_CHARS),
]


@pytest.mark.parametrize(("path", "limit"), TEXT_LIMITS, ids=[".".join(map(str, p)) for p, _ in TEXT_LIMITS])
def test_each_text_limit_is_accepted_at_the_limit_and_refused_one_past_it(folders, path, limit):
    assert problems_of(dump({"questions": [set_text(path, "Z" * limit)]}), folders) == []
    text = dump({"questions": [set_text(path, "Z" * (limit + 1))]})
    field = bank.field_path(("questions", 0, *path))
    assert problems_of(text, folders) == [
        f"{NAME}:{line_with(text, 'ZZZ')}: {field}: has {limit + 1:,} characters; the limit is {limit:,}"]


@pytest.mark.parametrize(("change", "field", "limit"), [
    (lambda q, v: q["follow_ups"][0].update(expects=["Fine.", v]), "follow_ups[0].expects[1]",
     schemas.MAX_CLAIM_CHARS),
    (lambda q, v: q.update(misconceptions(1)) or q["misconceptions"][0].update(claim=v), "misconceptions[0].claim",
     schemas.MAX_CLAIM_CHARS),
    (lambda q, v: q.update(misconceptions(1)) or q["misconceptions"][0].update(correction=v),
     "misconceptions[0].correction", schemas.MAX_PROSE_CHARS),
], ids=["expects-item", "claim", "correction"])
def test_nested_text_limits(folders, change, field, limit):
    for length in (limit, limit + 1):
        data = question()
        change(data, "Z" * length)
        text = dump({"questions": [data]})
        expected = [] if length == limit else [
            f"{NAME}:{line_with(text, 'ZZZ')}: questions[0].{field}: has {length:,} characters; the limit is {limit:,}"]
        assert problems_of(text, folders) == expected


def rubric_problems(folders: dict[str, Path], text: str) -> list[str]:
    (folders["rubrics"] / "demo-rubric.yaml").write_text(text)
    return [str(p).split(":", 1)[1] for p in bank.load_bundle((), [folders["rubrics"]], [folders["knowledge"]]).problems]


def test_rubric_limits(folders):
    rubric = yaml.safe_load(RUBRIC)
    levels = rubric["criteria"][1]["levels"]
    criteria = [{"id": f"c-{i}", "title": "T", "description": "D", "weight": 1, "levels": levels}
                for i in range(schemas.MAX_SHORT_LIST)]
    at_limit = {**rubric, "title": "Z" * schemas.MAX_NAME_CHARS, "criteria": rubric["criteria"] + criteria[2:]}
    assert rubric_problems(folders, dump(at_limit)) == []
    over = {**rubric, "title": "Z" * (schemas.MAX_NAME_CHARS + 1), "criteria": rubric["criteria"] + criteria[1:]}
    text = dump(over)
    limit = schemas.MAX_SHORT_LIST
    assert rubric_problems(folders, text) == [
        f"{line_with(text, 'title: ZZZ')}: title: has 201 characters; the limit is 200",
        f"{line_after(text, 'criteria')}: criteria: has {limit + 1} criteria; the limit is {limit}"]


def test_limits_apply_to_content_files_not_to_stored_snapshots():
    data = question(**key_points(schemas.MAX_KEY_POINTS + 1))
    assert len(Question.model_validate(data).key_points) == 41  # a session stored earlier still opens
    with pytest.raises(ValueError, match="has 41 key points; the limit is 40"):
        Question.model_validate(data, context=LIMITS_CONTEXT)


# ---------------------------------------------------------------- file size, on every path


def padded(text: str, size: int) -> str:
    return text + "#" * (size - len(text.encode()))


SMALL_LIMIT = 5_000


@pytest.fixture
def small_files(monkeypatch):
    monkeypatch.setattr(bank, "MAX_FILE_BYTES", SMALL_LIMIT)  # the check is the same at any size; this is quicker


@pytest.mark.parametrize("kind", ["questions", "rubrics", "knowledge"])
def test_file_size_in_the_bank_loader(folders, small_files, kind):
    names = {"questions": ("question_bank", "q.yaml", question_yaml("q-one")),
             "rubrics": ("rubrics", "demo-rubric.yaml", RUBRIC), "knowledge": ("knowledge", "demo-notes.md", KNOWLEDGE)}
    folder, name, text = names[kind]
    path = folders[folder] / name
    path.write_text(padded(text, SMALL_LIMIT))
    assert demo_bundle(folders).problems == []
    path.write_text(padded(text, SMALL_LIMIT + 1))
    messages = [f"{Path(p.file).name}:{p.line}: {p.field}: {p.message}" for p in demo_bundle(folders).problems]
    assert messages[0] == f"{name}:1: file: is 0.0 MB; the limit is 0.005 MB"


def test_file_size_in_validate(folders, small_files, run_cli, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(padded(question_yaml("q-one"), SMALL_LIMIT + 1))
    result = run_cli("validate", path, folders["rubrics"], folders["knowledge"], env=isolated_env(tmp_path))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"{path}:1: file: is 0.0 MB; the limit is 0.005 MB"]


def test_file_size_in_the_upload_form(folders, small_files):
    bundle = demo_bundle(folders)
    for size, ok in ((SMALL_LIMIT, True), (SMALL_LIMIT + 1, False)):
        assert check_question_yaml(padded(question_yaml("q-up"), size).encode(), "up.yaml", bundle).ok is ok
        assert check_document(padded("# Note\n\nSome text.\n", size).encode(), "note.md", bundle).ok is ok


# ---------------------------------------------------------------- id collisions with the bundle


def isolated_env(tmp_path: Path) -> dict[str, str]:
    return {"SIMULATOR_CUSTOM_QUESTIONS_DIR": str(tmp_path / "custom-questions"),
            "SIMULATOR_CUSTOM_KNOWLEDGE_DIR": str(tmp_path / "custom-knowledge"),
            "SIMULATOR_DATA_DIR": str(tmp_path / "data")}


def bundled_question() -> dict[str, Any]:
    return yaml.safe_load((QUESTION_DIR / "fundamentals.yaml").read_text())["questions"][0]


def colliding_file(folder: Path) -> tuple[Path, str, int]:
    """A custom file with a new question, then a copy of a bundled one; returns it, the copied id and its line."""
    taken = bundled_question()
    text = dump({"questions": [{**taken, "id": "my-own-question"}, taken]})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mine.yaml"
    path.write_text(text)
    return path, taken["id"], line_with(text, f"- id: {taken['id']}")


def test_validate_reports_a_custom_question_that_reuses_a_bundled_id(tmp_path, run_cli):
    env = isolated_env(tmp_path)
    path, taken, line = colliding_file(Path(env["SIMULATOR_CUSTOM_QUESTIONS_DIR"]))
    for args in ((), (path,)):  # the whole bank, and the custom file on its own
        result = run_cli("validate", *args, env=env)
        assert result.returncode == 1, result.stdout
        problem, = result.stdout.splitlines()
        assert problem.startswith(f"{path}:{line}: questions[1].id: duplicate question id {taken!r} (first in ")
        assert problem.endswith("question_bank/fundamentals.yaml)")


def test_validate_passes_without_the_collision(tmp_path, run_cli):
    env = isolated_env(tmp_path)
    folder = Path(env["SIMULATOR_CUSTOM_QUESTIONS_DIR"])
    folder.mkdir()
    (folder / "mine.yaml").write_text(dump({"questions": [{**bundled_question(), "id": "my-own-question"}]}))
    result = run_cli("validate", env=env)
    assert result.returncode == 0, result.stdout
    bundled = len(bank.load_bundle().questions)
    assert result.stdout.startswith(f"{bundled + 1} questions")


def test_the_loader_lists_the_collision_and_loads_the_rest(tmp_path):
    path, taken, line = colliding_file(tmp_path / "custom")
    bundle = bank.load_bundle([QUESTION_DIR, path.parent], [RUBRIC_DIR], [KNOWLEDGE_DIR])
    problem, = bundle.problems
    assert (problem.file, problem.line, problem.field) == (str(path), line, "questions[1].id")
    assert bundle.question_files[taken].endswith("question_bank/fundamentals.yaml")
    assert bundle.question_files["my-own-question"] == str(path)
    assert len(bundle.questions) == len(bank.load_bundle().questions) + 1


def test_a_custom_folder_inside_the_bank_loads_after_the_bundled_files(folders):
    # Sorted by name alone, custom/a.yaml would come before zz.yaml and take the id from it.
    (folders["question_bank"] / "zz.yaml").write_text(question_yaml("q-one"))
    (folders["question_bank"] / "custom").mkdir()
    (folders["question_bank"] / "custom" / "a.yaml").write_text(question_yaml("q-one"))
    bundle = demo_bundle(folders)
    assert bundle.question_files["q-one"].endswith("question_bank/zz.yaml")
    problem, = bundle.problems
    assert problem.file.endswith("custom/a.yaml") and "(first in " in problem.message


def test_the_upload_form_refuses_a_bundled_id_and_saves_nothing(bundle, tmp_path):
    taken = bundled_question()
    text = dump({"questions": [{**taken, "id": "my-own-question"}, taken]})
    custom = tmp_path / "custom"
    for check in (check_question_yaml(text, "mine.yaml", bundle), submit_questions(text, "mine.yaml", bundle, custom)):
        assert not check.ok and check.saved is None
        problem, = check.problems
        assert str(problem).startswith(f"mine.yaml:{line_with(text, '- id: ' + taken['id'])}: questions[1].id: ")
        assert problem.message.endswith("question_bank/fundamentals.yaml)")
    assert not custom.exists()


def test_a_second_rubric_with_a_taken_id_names_the_first(folders):
    (folders["rubrics"] / "zz-copy.yaml").write_text("# a copy\n" + RUBRIC)
    bundle = demo_bundle(folders)
    problem, = bundle.problems
    assert problem.file.endswith("zz-copy.yaml") and (problem.line, problem.field) == (2, "id")
    assert problem.message.startswith("duplicate rubric id 'demo-rubric' (first in ")
    assert problem.message.endswith("rubrics/demo-rubric.yaml)")


def test_a_custom_note_with_a_bundled_id_is_reported_and_the_bundled_one_kept(folders):
    custom = folders["knowledge"] / "custom"
    custom.mkdir()
    (custom / "demo-notes.md").write_text("# Mine\n\nMy own text.\n")
    bundle = demo_bundle(folders)
    problem, = bundle.problems
    assert problem.file.endswith("custom/demo-notes.md")
    assert "document id 'demo-notes' is already used by" in problem.message
    assert not bundle.knowledge["demo-notes"].path.endswith("custom/demo-notes.md")
