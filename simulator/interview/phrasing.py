"""What the offline interviewer says around each question: small phrase sets per situation, and topics and
rubric areas turned into plain words.

Each set is a tuple of templates. :func:`rotate` walks a set in an order drawn from a seed, one step per turn,
so a session's wording is repeatable and two neighbouring turns never take the same phrase from a set. The
question's own text is always appended unchanged (``{prompt}``); these words only lead into it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

# ---------------------------------------------------------------- asking a main question

OPENERS = (
    "Let's get started. {prompt}",
    "Thanks for making the time. First question: {prompt}",
    "Let's begin with {topic}. {prompt}",
    "We'll open with something on {topic}. {prompt}",
)
"""The first question of an interview with more than one."""

ONLY_QUESTION = (
    "Just one question this time, so take your time. {prompt}",
    "Here's your practice question. {prompt}",
    "One question on {topic} for this round. {prompt}",
)
"""The only question of a one-question session (e.g. "Practise this" on the Question bank)."""

NEXT_NEW_TOPIC = (
    "Let's switch gears to {topic}. {prompt}",
    "Now for something on {topic}. {prompt}",
    "Moving over to {topic}. {prompt}",
    "Question {number} of {total}, on {topic}. {prompt}",
)
"""A middle question on a different topic from the one before."""

NEXT_SAME_TOPIC = (
    "Staying with {topic} for a moment. {prompt}",
    "Another one on {topic}. {prompt}",
    "Still on {topic}: {prompt}",
)
"""A middle question on the same topic as the one before."""

NEXT_PLAIN = (
    "Next one. {prompt}",
    "Here's the next one. {prompt}",
    "On to question {number}. {prompt}",
)
"""A middle question when nothing is known about the one before."""

LAST = (
    "Last one: {prompt}",
    "Final question. {prompt}",
    "To wrap up: {prompt}",
    "And the last one. {prompt}",
)
"""The last question of an interview with more than one."""

HALFWAY = (
    "We're about halfway through.",
    "That's {done} of {total} done.",
)
"""Said before the question in the middle of a longer interview."""

# ---------------------------------------------------------------- after the previous answer: never a verdict

AFTER_STRONG = (
    "Thanks.",
    "Got it.",
    "Okay, understood.",
    "Thank you.",
)
"""Before the next question when the previous answer scored well: an acknowledgement, not praise."""

AFTER_WEAK = (
    "Thanks for walking me through that.",
    "Okay, let's keep going.",
    "Alright, thank you.",
    "Thanks, noted.",
)
"""Before the next question when the previous answer scored low: just as neutral, and it moves on."""

# ---------------------------------------------------------------- follow-ups, aimed at the weakest area

FOLLOW_UP_TOUCHED = (
    "You touched on {area}; let me push a little further. {prompt}",
    "Let me push on {area} a little: {prompt}",
    "I'd like to go one step deeper on {area}. {prompt}",
    "Picking up on {area}: {prompt}",
)
"""The answer reached the criterion, but not far."""

FOLLOW_UP_OPEN = (
    "Let's come back to {area}. {prompt}",
    "I'd like to hear more about {area}. {prompt}",
    "One more angle, on {area}. {prompt}",
    "Let's look at {area} for a moment. {prompt}",
)
"""The answer did not reach the criterion, or its level is unknown."""

# ---------------------------------------------------------------- plain words

TOPIC_WORDS = {
    "common-mistakes": "common mistakes",
    "cost-latency": "cost and latency",
    "decision-framework": "choosing an approach",
    "evaluation": "evaluation",
    "fine-tuning-methods": "fine-tuning methods",
    "fundamentals": "the fundamentals",
    "hallucination-grounding": "hallucination and grounding",
    "hybrid-designs": "hybrid designs",
    "knowledge-freshness": "keeping knowledge fresh",
    "rag-architecture": "RAG architecture",
    "scenarios": "real-world scenarios",
}
"""The bundled topics as a person would say them."""

ACRONYMS = {"rag": "RAG", "llm": "LLM", "llms": "LLMs", "lora": "LoRA", "qlora": "QLoRA", "mlops": "MLOps",
            "bm25": "BM25", "rrf": "RRF", "ai": "AI", "api": "API", "saas": "SaaS"}

_OWN_LEAD = re.compile(r"^([^.:?!]{1,40})[.:] ")
_OWN_LEAD_MAX_WORDS = 4


def topic_words(topic: str) -> str:
    """A topic slug in plain words: ``cost-latency`` becomes ``cost and latency``, ``my-rag-drills`` ``my RAG
    drills``."""
    if topic in TOPIC_WORDS:
        return TOPIC_WORDS[topic]
    return " ".join(ACRONYMS.get(word, word) for word in re.split(r"[-_]+", topic) if word)


def area_words(title: str) -> str:
    """A criterion title as it reads mid-sentence: lower case, except words such as RAG or MLOps."""
    return " ".join(word if any(c.isupper() for c in word[1:]) else word.lower() for word in title.split())


def has_own_lead(prompt: str) -> bool:
    """Whether the question opens with its own short lead-in (``Let's start simple.``, ``Budget question:``),
    so a transition of ours in front of it would be one lead too many."""
    found = _OWN_LEAD.match(prompt.strip())
    return bool(found) and len(found.group(1).split()) <= _OWN_LEAD_MAX_WORDS


def rotate(phrases: Sequence[str], seed: object, salt: object, step: int) -> str:
    """Phrase number ``step`` of ``phrases`` in an order fixed by ``seed`` and ``salt``: neighbouring steps
    differ whenever the set has two phrases or more."""
    order = random.Random(f"{seed}|{salt}").sample(range(len(phrases)), len(phrases))
    return phrases[order[step % len(phrases)]]
