"""Interviews: plans, the interviewer role, the policy numbers, and the engine that steps a session."""
