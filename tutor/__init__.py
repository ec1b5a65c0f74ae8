"""tutor: a terminal course that builds a GPT from scratch, one graded exercise at a time."""

__version__ = "0.1.0"
