"""Participants' images (items, stimuli, arm examples) with long-lived caching headers.

Media names are never reused (Django's storage adds a suffix rather than overwrite), so
browsers and proxies may keep a file forever. Other media folders (e.g. researcher
uploads) are not served here.
"""
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

from explainers.images import IMAGE_SUFFIXES

PUBLIC_FOLDERS = {"items", "stimuli", "arms"}
SERVED_SUFFIXES = IMAGE_SUFFIXES - {".bmp", ".tif", ".tiff"}  # the image formats every browser shows


@require_safe
def participant_media(request: HttpRequest, path: str) -> FileResponse:
    """Serve MEDIA_ROOT/<path> if it is an image in a public folder; 404 for anything else."""
    relative = PurePosixPath(path)
    parts = relative.parts
    if len(parts) < 2 or parts[0] not in PUBLIC_FOLDERS or relative.suffix.lower() not in SERVED_SUFFIXES:
        raise Http404("no such image")
    folder = (Path(settings.MEDIA_ROOT) / parts[0]).resolve()
    file = (folder / Path(*parts[1:])).resolve()
    if not file.is_relative_to(folder) or not file.is_file():
        raise Http404("no such image")
    response = FileResponse(file.open("rb"))
    response["Cache-Control"] = f"public, max-age={settings.MEDIA_CACHE_SECONDS}, immutable"
    return response
