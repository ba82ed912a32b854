"""What the job engine raises: a running job's stop signal, and refusals to start one."""


class JobCancelled(Exception):
    """Raised inside a running job once it was cancelled (or finished elsewhere): stop now."""


class JobError(Exception):
    """A job cannot be started as asked (unknown kind, bad parameters, not retryable)."""


class JobClaimed(JobError):
    """What the job would work on is claimed by another queued or running job (enqueue's `claim`)."""
