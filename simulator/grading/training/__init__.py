"""Training the grading models: claim cross-encoder and fluency statistics (``python -m simulator train-grader``)."""
