"""Distilled students against their teacher, their from-scratch control and the run's best candidate.

    python bench/students.py RUN_OUT_FOLDER [...]     # folders holding a run's results.json

For every student (a catalog entry built by "distill", except those with `labels = "real"`: they
are controls) of a finished run: the teacher that taught it (the one its notes name), the control
(its entry's `control`: the same shape or size rule trained on the real labels), and the best
candidate (highest primary metric on the test split, the baseline and other students left out).
Gaps are in points of the primary metric (x 100: pp of accuracy, hundredths of R2), positive when
the student is better; size and p50 ratios are student / best (the artifact as stored; one raw
record end to end, 1 thread). The issue's target
(#16): a student within 1 point of the best that is at least 10x smaller and 5x faster per row.
`student_rows` is what other benches (bench_quality.py) call.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import advisor  # noqa: E402

TARGET_POINTS, TARGET_SMALLER, TARGET_FASTER = 1.0, 10.0, 5.0
_TEACHER = re.compile(r"distilled from teacher '([^']+)'")


@dataclass(frozen=True)
class StudentRow:
    student: str
    teacher: str | None
    control: str | None
    best: str
    metric: str
    value: float
    vs_teacher_points: float | None
    vs_control_points: float | None
    vs_best_points: float
    size_ratio_to_best: float | None
    p50_ratio_to_best: float | None
    p50_ms: float | None
    size_bytes: int | None
    meets_target: bool


def _value(run: Any, key: str | None) -> float | None:
    if not key or key not in {c.key for c in run.candidates}:
        return None
    c = run.candidate(key)
    return c.quality.metrics.get(run.primary_metric) if c.status == "measured" and c.quality else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return float(a / b) if a and b else None


def student_rows(run: Any) -> list[StudentRow]:
    """The students of `run` (an `advisor.Run`, or a folder or results.json path) with their gaps."""
    if not isinstance(run, advisor.Run):
        run = advisor.open_run(run)
    entries = {e["key"]: e for e in run.settings.get("catalog") or []}
    students = [k for k, e in entries.items() if e.get("builder") == "distill" and e["params"].get("labels") != "real"]
    sign = 1.0 if advisor.HIGHER_IS_BETTER.get(run.primary_metric, True) else -1.0
    measured = [
        c
        for c in run.candidates
        if c.status == "measured" and c.family != "baseline" and c.key not in students and c.quality
    ]
    best = max(measured, key=lambda c: sign * c.quality.metrics[run.primary_metric])
    best_value = best.quality.metrics[run.primary_metric]
    rows = []
    for key in students:
        value = _value(run, key)
        if value is None:
            continue
        c = run.candidate(key)
        found = next((m.group(1) for note in c.notes if (m := _TEACHER.search(note))), None)
        teacher = found or entries[key]["params"].get("teacher")
        control = entries[key]["params"].get("control")

        def points(other: float | None, value: float = value) -> float | None:
            return None if other is None else sign * (value - other) * 100

        size = _ratio(c.size.serialized_bytes if c.size else None, best.size.serialized_bytes if best.size else None)
        p50 = _ratio(c.latency.p50_ms if c.latency else None, best.latency.p50_ms if best.latency else None)
        vs_best = points(best_value)
        meets = (
            vs_best >= -TARGET_POINTS
            and size is not None
            and size <= 1 / TARGET_SMALLER
            and p50 is not None
            and p50 <= 1 / TARGET_FASTER
        )
        rows.append(
            StudentRow(
                key,
                teacher,
                control,
                best.key,
                run.primary_metric,
                value,
                points(_value(run, teacher)),
                points(_value(run, control)),
                vs_best,
                size,
                p50,
                c.latency.p50_ms if c.latency else None,
                c.size.serialized_bytes if c.size else None,
                meets,
            )
        )
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_rows(name: str, rows: list[StudentRow]) -> None:
    if not rows:
        print(f"\n=== {name}: no measured students ===")
        return
    print(f"\n=== {name}: {rows[0].metric}, best candidate {rows[0].best} ===")
    print(
        f"{'student':<18}{'teacher':<19}{'value':>8}{'vs teacher':>11}{'control':>15}{'vs control':>11}"
        f"{'vs best':>9}{'size/best':>10}{'p50/best':>9}{'target':>8}"
    )
    for r in rows:
        print(
            f"{r.student:<18}{r.teacher or '-':<19}{r.value:>8.4f}{_fmt(r.vs_teacher_points, '+.2f'):>11}"
            f"{r.control or '-':>15}{_fmt(r.vs_control_points, '+.2f'):>11}{r.vs_best_points:>+9.2f}"
            f"{_fmt(r.size_ratio_to_best, '.3f'):>10}{_fmt(r.p50_ratio_to_best, '.3f'):>9}"
            f"{'met' if r.meets_target else 'missed':>8}"
        )
    print(
        f"points: x100 of {rows[0].metric}, + = the student is better; target: within {TARGET_POINTS:g} point of "
        f"the best, <= 1/{TARGET_SMALLER:g} of its size and <= 1/{TARGET_FASTER:g} of its p50"
    )


def main(paths: list[str]) -> int:
    for path in paths:
        rows = student_rows(path)
        print_rows(path, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
