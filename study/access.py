"""Which studies and gaze data sets a user may see or change.

Superusers: everything. Other active staff: what they own, and what is shared with them or one of
their groups (`view` lets them see pages and exports, `edit` also change it in the admin). Anyone
else: nothing. Views look rows up through `visible(...)`, so a row the user may not see is a 404.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, Model, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse

from study.models import Access


def visible(
    queryset: QuerySet, user: AbstractBaseUser | AnonymousUser, access: str = Access.VIEW
) -> QuerySet:
    """The rows of `queryset` (Study or GazeDataset) that `user` may see (VIEW) or change (EDIT)."""
    if user.is_active and user.is_superuser:
        return queryset
    if not (user.is_active and user.is_staff):
        return queryset.none()
    shares = queryset.model._meta.get_field("shares")
    levels = [Access.EDIT] if access == Access.EDIT else [Access.VIEW, Access.EDIT]
    shared = shares.related_model.objects.filter(
        Q(user=user) | Q(group__in=user.groups.all()),
        **{shares.field.name: OuterRef("pk")},
        access__in=levels,
    )
    return queryset.filter(Q(owner=user) | Exists(shared))


def allowed(user: AbstractBaseUser | AnonymousUser, obj: Model, access: str = Access.VIEW) -> bool:
    """Whether `user` may see (VIEW) or change (EDIT) this study or gaze data set."""
    return visible(type(obj).objects.filter(pk=obj.pk), user, access).exists()


def researcher_required(view: Callable) -> Callable:
    """Login required; logged-in users who are not staff get 403."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("Researcher pages are for staff users.")
        return view(request, *args, **kwargs)

    return wrapped
