"""Reports: exports of a session (Markdown, JSON, terminal) and progress over time."""
