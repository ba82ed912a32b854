"""The app's services: the work behind its pages, commands and jobs."""
from collections.abc import Callable

# report(done, total, message): the progress of a long service call (a job passes its Reporter, which
# raises when the job was cancelled, so the call stops there and writes nothing).
Report = Callable[[int, int, str], None]


def silent(done: int, total: int, message: str = "") -> None:
    """The Report of a call nobody watches (commands show tqdm bars instead)."""
