"""The explanations gallery (/r/gallery/): the demo's ImageNet photos, the bundled EfficientNet-Lite0's
top-5 predictions for each, and its explanation maps by several methods (from the explainer cache).

The demo service is imported inside the views: it loads torch, which the web workers that serve
participants should not pay for at start-up."""

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from study.access import researcher_required

RENDERS = {"overlay", "mask"}


@require_safe
@researcher_required
def gallery(request: HttpRequest) -> HttpResponse:
    from study.building import demo

    entries = demo.read_gallery()
    methods = [method for method, _ in entries[0].maps] if entries else []
    return render(request, "building/gallery.html", {"entries": entries, "methods": methods})


@require_safe
@researcher_required
def photo(request: HttpRequest, name: str) -> FileResponse:
    from study.building import demo

    if name not in {entry.name for entry in demo.read_gallery()}:
        raise Http404("no such photo")
    return FileResponse((demo.gallery_dir() / "photos" / f"{name}.png").open("rb"), content_type="image/png")


@require_safe
@researcher_required
def explanation(request: HttpRequest, key: str, render_name: str) -> FileResponse:
    from study.building import demo

    known = {key for entry in demo.read_gallery() for _, key in entry.maps}
    path = demo.gallery_file(key, render_name) if key in known and render_name in RENDERS else None
    if path is None:
        raise Http404("no such explanation")
    return FileResponse(path.open("rb"), content_type="image/png")
