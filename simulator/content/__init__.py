"""Content: the question bank, rubrics and knowledge notes (schemas, loading, user intake)."""
