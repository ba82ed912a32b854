"""The --owner option of the commands that create studies and gaze data sets."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def add_owner_argument(parser) -> None:
    parser.add_argument(
        "--owner", default="", help="username of the owner (default: none, only superusers see it)"
    )


def owner_id(username: str) -> int | None:
    """The primary key of the user `username` ("" for no owner); CommandError if there is none."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named {username!r}.")
    return user.pk
