"""Result types of a grading run and their JSON form (the `tutor grade --json` contract). Plain data, no torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# A diagnosed failure's message carries this prefix before the mistake's description.
KNOWN_MISTAKE = "This looks like a known mistake:"

STATUSES = ("passed", "failed", "not_started", "error", "timeout", "crashed")


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str = ""
    diagnosis: str | None = None  # key of the known mistake the learner's output matched
    lesson: str | None = None  # lesson link for this check, e.g. lessons/04-self-attention.md#softmax
    not_implemented: bool = False  # failed only because the learner's code raised NotImplementedError
    mistake: str | None = None  # the diagnosed mistake's description (front ends show it; `message` omits it)

    def full_message(self) -> str:
        """`message` with the diagnosed mistake and the lesson to read, as one text (the JSON form's message)."""
        parts = [self.message] if self.message else []
        if not self.passed:
            if self.mistake:
                parts.append(f"{KNOWN_MISTAKE} {self.mistake}")
            if self.lesson and not self.not_implemented:
                parts.append(f"  Read: {self.lesson}")
        return "\n".join(parts)


@dataclass
class ExerciseResult:
    id: str
    status: str
    checks: list[CheckResult] = field(default_factory=list)
    duration_s: float = 0.0
    message: str = ""  # a problem with the exercise as a whole (import error, timeout, crash)
    output: str = ""  # what the learner's code printed (truncated)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_json(self) -> dict:
        """The form `tutor grade --json` prints: id, status, checks (name, passed, message), duration_s."""
        checks = [{"name": c.name, "passed": c.passed, "message": c.full_message()} for c in self.checks]
        if self.message and self.status != "passed":
            checks.insert(0, {"name": "grading", "passed": False, "message": self.message})
        return {"id": self.id, "status": self.status, "checks": checks, "duration_s": round(self.duration_s, 3)}

    def to_wire(self) -> dict:
        """Everything, for the grading server's protocol."""
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict) -> "ExerciseResult":
        checks = [CheckResult(**c) for c in data.get("checks", [])]
        return cls(**{**data, "checks": checks})

    # Helpers for tests and reports.
    def failure_text(self) -> str:
        parts = [self.message] + [c.full_message() for c in self.checks if not c.passed]
        return "\n".join(p for p in parts if p)

    def diagnosed(self, key: str) -> bool:
        return any(c.diagnosis == key for c in self.checks if not c.passed)

    def summary(self) -> str:
        lines = [f"{self.id}: {self.status} ({self.duration_s:.2f} s) {self.message}"]
        for c in self.checks:
            mark = "PASS" if c.passed else "FAIL"
            lines.append(f"  [{mark}] {c.name}" + (f" [diagnosis: {c.diagnosis}]" if c.diagnosis else ""))
            if not c.passed:
                lines.extend("      " + ln for ln in c.full_message().splitlines())
        if self.output:
            lines.append("  output: " + self.output[:500])
        return "\n".join(lines)
