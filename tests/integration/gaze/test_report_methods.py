"""gaze_report takes every cacheable explainer method under its names and aliases, so the JEI
2021 review's Table 1 (gradient, guided backprop, SmoothGrad, IG, Grad-CAM, LRP, DeepLIFT, FEM) can
be made on any gaze data set; the data set page names the methods."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from explainers.methods import LABELS, REVIEW_TABLE_1
from explainers.precompute import CACHEABLE
from study.archives import folder_entries
from study.gaze.importer import import_gaze, import_gaze_path
from study.gaze.options import ImportOptions
from study.gaze.report import GazeReportError, parse_methods
from tests.integration.gaze.helpers import good_files, write_tree

pytestmark = pytest.mark.django_db
TABLE_1 = "gradient,gbp,smoothgrad,ig,grad-cam,lrp,deeplift,fem"


def test_every_cacheable_method_and_alias_is_accepted():
    assert parse_methods(",".join(CACHEABLE)) == list(CACHEABLE)
    assert parse_methods(TABLE_1) == list(REVIEW_TABLE_1)
    with pytest.raises(GazeReportError, match="cannot be used here"):
        parse_methods("gradcam,pv")


@pytest.mark.slow
def test_table_1_on_mit1003_stimuli(mit1003_dir, tmp_path):
    entries = {path: read for path, read in folder_entries(mit1003_dir).items() if "i1000274881" in path}
    import_gaze("mit-one", entries)
    stdout = io.StringIO()
    call_command("gaze_report", "mit-one", "--model", "efficientnet-lite0", "--methods", TABLE_1,
                 "--out", str(tmp_path / "report"), "--verbosity", "0", stdout=stdout)
    table = stdout.getvalue()
    for method in REVIEW_TABLE_1:
        assert f"| {method} |" in table


def test_data_set_page_names_the_methods(client, django_user_model, settings, tmp_path):
    settings.SECURE_SSL_REDIRECT = False
    owner = django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True)
    import_gaze_path("small", write_tree(tmp_path / "src", good_files(1)), ImportOptions(owner_id=owner.pk))
    client.force_login(owner)
    page = client.get(reverse("gaze-dataset", args=["small"])).content.decode()
    assert f"--methods {','.join(REVIEW_TABLE_1)}" in page
    assert all(name in page for name in LABELS if name != "pv")
