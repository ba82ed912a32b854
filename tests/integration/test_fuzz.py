"""Fuzz every URL pattern (enumerated from the resolver, so pages added later are covered too) with
malformed requests, anonymous, as a participant and as staff: no 5xx, no traceback in a body, and a
refused request (4xx) writes no row and no file.

Requests: every pattern with a few fixed nasty values, then hypothesis-drawn ones (random bytes and
lengths in path segments, NULs, methods, charsets, oversized fields). The examples are bounded so that
the whole file runs in well under two minutes on each database.
"""

import re
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.urls import URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from study.gaze.importer import import_gaze_path
from tests.factories import make_study
from tests.integration.gaze.helpers import good_files, write_tree

pytestmark = pytest.mark.django_db
ROLES = ("anonymous", "participant", "staff")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
CHARSETS = ("utf-8", "latin-1", "utf-16", "no-such-charset", "")
CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "text/plain",
                 "application/json", "")
FIELDS = ("consent_key", "trial", "option", "rt_ms", "name", "description", "task", "n_observers", "sigma_px",
          "ppd", "PROLIFIC_PID", "csrfmiddlewaretoken", "username", "password", "post", "title")
PARAM = re.compile(r"<(?:\w+:)?\w+>|\(\?P<\w+>[^)]*\)")


def routes() -> list[str]:
    """Every URL pattern of the site, as one route string (converters and regex groups left in)."""

    def walk(patterns, prefix: str):
        for pattern in patterns:
            route = prefix + str(pattern.pattern).lstrip("^").rstrip("$")
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            else:
                yield route

    return sorted(set(walk(get_resolver().url_patterns, "")))


ROUTES = routes()


def fill(route: str, values: list[str]) -> str:
    """The route with its parameters replaced by `values` in turn (percent-encoded text)."""
    parts = iter(values)
    return "/" + PARAM.sub(lambda _: next(parts, "x"), route)


@pytest.fixture
def world(settings, tmp_path, django_user_model):
    """A study with a participant at the first question, a gaze data set, a superuser; per-role clients."""
    settings.TMP_DIR = tmp_path / "tmp"
    settings.FILE_UPLOAD_TEMP_DIR = str(settings.TMP_DIR)
    settings.TMP_DIR.mkdir()
    study = make_study()
    import_gaze_path("gz", write_tree(tmp_path / "src", good_files(1)))
    boss = django_user_model.objects.create_superuser("boss", "b@example.org", "pw-Secret-123")
    participant_client = Client()
    landing = participant_client.get("/s/s1/")
    participant_client.post("/s/s1/", {"consent_key": landing.context["consent_key"]})
    token = study.participants.get().token
    participant_client.post(f"/p/{token}/intro/")
    participant_client.get(f"/p/{token}/")
    known = ["s1", token, "gz", "s0", str(study.pk), "1", "gradcam", "overlay"]
    return {"boss": boss, "participant": participant_client, "known": known, "tmp": settings.TMP_DIR,
            "media": Path(settings.MEDIA_ROOT)}


def client_for(role: str, world: dict) -> Client:
    if role == "participant":
        return world["participant"]
    client = Client()
    if role == "staff":
        client.force_login(world["boss"])
    return client


def snapshot(world: dict) -> tuple:
    """Row counts of every table but sessions (in one query) and the files under MEDIA_ROOT and TMP_DIR."""
    tables = [model._meta.db_table for model in apps.get_models() if model is not Session]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {connection.ops.quote_name(t)})"
                                             for t in tables))
        rows = cursor.fetchone()
    roots = [root for root in (world["media"], world["tmp"]) if root.exists()]
    files = tuple(sorted(str(path) for root in roots for path in root.rglob("*")))
    return rows, files


def send(client: Client, world: dict, method: str, path: str, query: dict, body: bytes, content_type: str):
    """Send one request; check no 5xx, no traceback, and nothing written when it is refused."""
    before = snapshot(world)
    url = path + ("?" + urlencode(query) if query else "")
    response = client.generic(method, url, body, content_type=content_type)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code < 500, (method, url, response.status_code)
    assert b"Traceback" not in content, (method, url)
    if response.status_code >= 400:
        assert snapshot(world) == before, (method, url, response.status_code)
    return response


NASTY = ["%00", "items/a%00.png", "x" * 300, "%ff%fe%F0%9F%98%80"]


@pytest.mark.parametrize("role", ROLES)
def test_every_url_pattern_refuses_nasty_values(world, role):
    client = client_for(role, world)
    form = urlencode({"consent_key": "x\x00", "option": "o" * 5000}).encode()
    for route in ROUTES:
        send(client, world, "GET", fill(route, world["known"][:1] * 4), {"q": "a\x00"}, b"", "")
        for value in NASTY:
            path = fill(route, [value] * 4)
            send(client, world, "GET", path, {}, b"", "")
            send(client, world, "POST", path, {}, form, "application/x-www-form-urlencoded; charset=no-such")
        if role == "staff":  # an earlier request may have logged the client out (a POST to logout)
            client.force_login(world["boss"])


segments = st.one_of(
    st.sampled_from(["s1", "gz", "s0", "1", "gradcam"]),
    st.binary(max_size=40).map(lambda b: quote(b, safe="")),
    st.text(max_size=40).map(lambda t: quote(t, safe="")),
    st.integers(0, 3000).map(lambda n: "a" * n),
)
values = st.one_of(
    st.text(max_size=30),
    st.binary(max_size=30).map(lambda b: b.decode("latin-1")),
    st.integers(-2**70, 2**70).map(str),
    st.sampled_from(["inf", "nan", "-0.5", "1e309", "x" * 70_000]),
)
forms = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), values, max_size=5)


@st.composite
def requests(draw):
    route = draw(st.sampled_from(ROUTES))
    path = fill(route, draw(st.lists(segments, min_size=4, max_size=4)))
    method = draw(st.sampled_from(METHODS))
    query = draw(forms)
    charset = draw(st.sampled_from(CHARSETS))
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if charset and content_type:
        content_type += f"; charset={charset}"
    body = draw(st.one_of(st.binary(max_size=200), forms.map(lambda f: urlencode(f).encode())))
    return method, path, query, body, content_type


@pytest.mark.parametrize("role", ROLES)
@hypothesis_settings(max_examples=100, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                            HealthCheck.data_too_large])
@given(request=requests())
def test_random_requests_to_every_url_pattern(world, role, request):
    client = client_for(role, world)
    method, path, query, body, content_type = request
    send(client, world, method, path, query, body, content_type)


def test_the_fuzzed_routes_cover_the_participant_researcher_and_admin_pages():
    for route in ("s/<slug:slug>/", "p/<str:token>/answer/", "r/studies/<slug:slug>/", "r/gaze/upload/",
                  "media/<path:path>", "admin/"):
        assert route in ROUTES


def _zip(files: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("upload", ["csv-absolute", "csv-dotdot", "voc-dotdot", "voc-absolute"])
def test_a_builder_upload_naming_files_outside_itself_builds_nothing(world, upload, tmp_path, jobs_inline):
    """A zip whose labels.csv or VOC annotation names another file on the server (absolute, or by ..)
    fails with the file and its line named; no study, and the file is copied nowhere."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from study.models import Job, Study

    secret = tmp_path / "private" / "stimulus.png"
    secret.parent.mkdir()
    secret.write_bytes(b"\x89PNG not for you")
    outside = str(secret) if upload.endswith("absolute") else "../../../../../../" + str(secret).lstrip("/")
    if upload.startswith("csv"):
        files = {"data/labels.csv": f"image,labels\n{outside},airliner\n".encode()}
        named = r"labels\.csv, line 2"
    else:
        files = {"data/Annotations/0001.xml": (f"<annotation><filename>{outside}</filename><object><name>"
                                               "airliner</name></object></annotation>").encode(),
                 "data/JPEGImages/placeholder.txt": b""}
        named = r"0001\.xml"
    client = client_for("staff", world)
    with jobs_inline():
        response = client.post("/r/build/", {
            "slug": "stolen", "title": "Stolen", "model": "efficientnet-lite0", "arms": ["gradcam"],
            "rendering": "white_mask", "n_correct": "1", "n_incorrect": "0", "seed": "0", "input_size": "224",
            "threshold": "0.5",
            "attention_checks": "0", "confidence_rating": "0",
            "dataset": SimpleUploadedFile("data.zip", _zip(files), "application/zip")})
    assert response.status_code == 302, response.context["form"].errors
    job = Job.objects.get(kind="build_study")
    assert job.state == "failed"
    assert re.search(named + r": '.*' (is an absolute path|points outside the data set folder)", job.error)
    assert not Study.objects.filter(slug="stolen").exists()
    copies = [path for path in world["media"].rglob("*") if path.is_file()
              and path.read_bytes() == secret.read_bytes()]
    assert copies == []


@pytest.mark.parametrize("where", ["label", "image name"])
def test_a_nul_in_labels_csv_ends_the_build_failed_with_the_reason(world, where, jobs_inline):
    """The NUL reaches the job's error text; the row must still be written (PostgreSQL refuses NUL)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from study.models import Job, Study

    row = "a.png,air\x00liner" if where == "label" else "a\x00.png,airliner"
    files = {"data/labels.csv": f"image,labels\n{row}\n".encode(), "data/a.png": b"not read"}
    with jobs_inline():
        client_for("staff", world).post("/r/build/", {
            "slug": "nul", "title": "NUL", "model": "efficientnet-lite0", "arms": ["gradcam"],
            "rendering": "white_mask", "n_correct": "1", "n_incorrect": "0", "seed": "0", "input_size": "224",
            "threshold": "0.5", "attention_checks": "0", "confidence_rating": "0",
            "dataset": SimpleUploadedFile("data.zip", _zip(files), "application/zip")})
    job = Job.objects.get(kind="build_study")
    assert job.state == "failed" and "\x00" not in job.error
    assert re.search(r"labels\.csv, line 2: .*(control character|unknown label)", job.error), job.error
    assert not Study.objects.filter(slug="nul").exists()


def test_job_messages_are_cleaned_and_bounded():
    from study.jobs import clean_message

    assert clean_message("a\x00b\tc\nd\x1b") == "a\ufffdb\tc\nd\ufffd"
    long = clean_message("x" * 10_000, 500)
    assert len(long) == 500 and long.endswith("(10,000 characters in all)")
