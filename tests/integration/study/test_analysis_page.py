"""The per-study analysis page: a button starts the "analysis" job; the page shows the latest finished
one's Table 1, Mann-Whitney tests (with the p method), per-question accuracy, attention-check failures and
histograms, and serves its CSV, LaTeX and PNG files; anyone who may not see the study gets 404."""

import io

import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from analysis.simulatability import participant_accuracies, question_accuracies
from study.models import Access, Job
from study.models.access import StudyShare
from study.research.export import participants_dataframe, trials_dataframe
from tests.factories import make_study
from tests.integration.study.test_analyze_study import answer_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner", password="pw-Secret-123", is_staff=True)


@pytest.fixture
def answered(owner):
    """Items 0-2 model right, 3-4 model wrong, 5 attention check; 3 Grad-CAM and 3 PV completers."""
    study = make_study("analyzed", n_correct=3, n_incorrect=2, n_attention=1, owner=owner)
    for right in ({0, 1, 2}, {0, 1, 2}, {0, 1}):
        answer_all(study, "gradcam", right)
    for right in ({0, 3, 4}, {1, 3}, {3, 4}):
        answer_all(study, "pv", right, fail_attention=right == {1, 3})
    return study


def download(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content)


def test_the_button_runs_the_analysis_and_the_page_shows_its_numbers_and_files(client, owner, answered,
                                                                               jobs_inline):
    client.force_login(owner)
    empty = client.get("/r/studies/analyzed/analysis/")
    assert empty.status_code == 200 and b"No finished analysis yet" in empty.content
    with jobs_inline():
        response = client.post("/r/studies/analyzed/analysis/start/", {"method": "asymptotic"})
    job = Job.objects.get(kind="analysis")
    assert response.status_code == 302 and response.url == f"/r/jobs/{job.pk}/"
    assert job.state == "done", job.error
    page = client.get("/r/studies/analyzed/analysis/")
    assert page.status_code == 200
    tables = {t.name: t for t in page.context["tables"]}
    assert set(tables) == {"table1.csv", "mannwhitney.csv", "questions.csv", "participation.csv"}
    html = page.content.decode()
    assert "p method\n<strong>asymptotic</strong>" in html and "normal approximation" in html

    base = f"/r/studies/analyzed/analysis/{job.pk}/"
    table1 = pd.read_csv(io.BytesIO(download(client, base + "table1.csv"))).set_index(["arm", "subset"])
    # Independent reference: per-participant accuracies from the export, by hand and by scipy.
    accuracies = participant_accuracies(trials_dataframe(answered), participants_dataframe(answered))
    right = accuracies[accuracies.subset == "model correct"].groupby("arm")["accuracy"].apply(list)
    assert sorted(right["gradcam"]) == pytest.approx([2 / 3, 1, 1])
    assert table1.loc[("gradcam", "model correct"), "mean"] == pytest.approx(8 / 9)
    assert table1.loc[("gradcam", "model correct"), "se"] == pytest.approx(stats.sem([1, 1, 2 / 3]))
    assert f"{8 / 9:.4g}" in html and f"{stats.sem([1, 1, 2 / 3]):.4g}" in html
    tests = pd.read_csv(io.BytesIO(download(client, base + "mannwhitney.csv"))).set_index("subset")
    wrong = accuracies[accuracies.subset == "model incorrect"].groupby("arm")["accuracy"].apply(list)
    reference = stats.mannwhitneyu(wrong["gradcam"], wrong["pv"], alternative="less", use_continuity=False,
                                   method="asymptotic")
    assert tests.loc["model incorrect", "u"] == reference.statistic
    assert tests.loc["model incorrect", "pvalue"] == pytest.approx(reference.pvalue)
    questions = pd.read_csv(io.BytesIO(download(client, base + "questions.csv")))
    expected = question_accuracies(trials_dataframe(answered), participants_dataframe(answered))
    pd.testing.assert_frame_equal(questions, expected.reset_index(drop=True), check_dtype=False)
    participation = pd.read_csv(io.BytesIO(download(client, base + "participation.csv"))).set_index("arm")
    assert participation["failed_attention"].to_dict() == {"gradcam": 0, "pv": 1}
    assert "\\begin{tabular}" in download(client, base + "table1.tex").decode()
    assert "\\begin{tabular}" in download(client, base + "mannwhitney.tex").decode()
    assert page.context["figures"] == ["histogram_model_correct.png", "histogram_model_incorrect.png"]
    for name in page.context["figures"]:
        assert f'src="{base}{name}"' in html
        with Image.open(io.BytesIO(download(client, base + name))) as image:
            assert image.format == "PNG"
    assert client.get(base + "nothing.csv").status_code == 404
    assert client.get(base + "..%2Fparams.json").status_code == 404


def test_viewers_see_the_page_and_anyone_else_gets_404(client, django_user_model, owner, answered,
                                                       jobs_inline):
    client.force_login(owner)
    with jobs_inline():
        client.post("/r/studies/analyzed/analysis/start/")
    job = Job.objects.get(kind="analysis")
    viewer = django_user_model.objects.create_user("viewer", password="pw-Secret-123", is_staff=True)
    StudyShare.objects.create(study=answered, user=viewer, access=Access.VIEW)
    stranger = django_user_model.objects.create_user("stranger", password="pw-Secret-123", is_staff=True)
    client.force_login(viewer)
    assert client.get("/r/studies/analyzed/analysis/").status_code == 200
    assert client.get(f"/r/studies/analyzed/analysis/{job.pk}/table1.csv").status_code == 200
    client.force_login(stranger)
    assert client.get("/r/studies/analyzed/analysis/").status_code == 404
    assert client.get(f"/r/studies/analyzed/analysis/{job.pk}/table1.csv").status_code == 404
    assert client.post("/r/studies/analyzed/analysis/start/").status_code == 404
    other = make_study("other", owner=stranger)  # a job of one study is not served under another
    assert client.get(f"/r/studies/{other.slug}/analysis/{job.pk}/table1.csv").status_code == 404
    client.force_login(owner)
    assert client.post("/r/studies/analyzed/analysis/start/", {"method": "magic"}).status_code == 400
    assert Job.objects.filter(kind="analysis").count() == 1
