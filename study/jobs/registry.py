"""The kinds of job the engine knows: `study.job_kinds` registers each when the app is ready."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from study.jobs.errors import JobError
from study.models import Job


@dataclass(frozen=True)
class JobKind:
    """What a kind of job does. `run(job, report) -> result links` does the work in one task, or, for
    a split kind, `plan(job) -> shard params`, `run_shard(job, shard, report)` and `finish(job, report)
    -> result links` (the shards go to the `gpu` queue)."""

    name: str
    label: str
    run: Callable | None = None
    plan: Callable | None = None
    run_shard: Callable | None = None
    finish: Callable | None = None
    queue: str = "celery"


KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    """Add a kind of job (one entry per kind; see study.job_kinds)."""
    if (kind.run is None) == (kind.plan is None or kind.run_shard is None):
        raise ValueError(f"job kind {kind.name} needs either run, or plan and run_shard")
    KINDS[kind.name] = kind
    return kind


def kind_of(job: Job) -> JobKind:
    """The registered kind of `job`; JobError when no kind of that name is registered."""
    try:
        return KINDS[job.kind]
    except KeyError:
        raise JobError(f"unknown job kind {job.kind!r}") from None
