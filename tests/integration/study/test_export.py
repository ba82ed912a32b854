"""trials.csv and participants.csv: exact columns, one row per answer, streaming, same from the CLI."""

import csv
import io
import json
from datetime import datetime, timedelta

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from analysis import simulatability
from study.models import Participant, RecruitmentRecord, Trial
from study.models.study import CANT_TELL
from study.research import export
from study.survey import recruitment
from tests.factories import make_study

pytestmark = pytest.mark.django_db

TRIAL_HEADER = [
    "participant",
    "arm",
    "technique",
    "item",
    "item_position",
    "presented_position",
    "model_correct",
    "is_attention_check",
    "model_prediction",
    "presented_options",
    "chosen_option",
    "correct_guess",
    "cant_tell",
    "rt_ms",
    "confidence",
    "shown_at",
    "answered_at",
    "withdrawn",
    "outcome",
    "completion_code",
    "PROLIFIC_PID",
    "STUDY_ID",
    "SESSION_ID",
    "workerId",
    "assignmentId",
    "hitId",
    "participant_label",
    "session_ids",
]
PARTICIPANT_HEADER = [
    "participant",
    "arm",
    "technique",
    "status",
    "consented_at",
    "completed_at",
    "n_answered",
    "attention_failures",
    "outcome",
    "completion_code",
    "PROLIFIC_PID",
    "STUDY_ID",
    "SESSION_ID",
    "workerId",
    "assignmentId",
    "hitId",
    "participant_label",
    "session_ids",
]


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True,
        is_superuser=True))
    return client


def add_participant(study, arm_name, chosen, n_shown=None, status="active", last_seen_ago=0):
    """A participant shown ``n_shown`` items (all by default) who answered ``chosen[i]`` on the i-th shown."""
    now = timezone.now()
    participant = Participant.objects.create(study=study, arm=study.arms.get(name=arm_name))
    completed_at = now if status == "completed" else None
    Participant.objects.filter(pk=participant.pk).update(
        status=status, completed_at=completed_at, last_seen_at=now - timedelta(minutes=last_seen_ago)
    )
    items = list(study.items.order_by("-position"))[:n_shown]  # shown in reverse order
    for place, item in enumerate(items):
        answer = chosen[place] if place < len(chosen) else None
        options = item.options[1:] + item.options[:1]
        Trial.objects.create(
            participant=participant,
            item=item,
            presented_position=place,
            presented_options=options,
            shown_at=now,
            chosen_option=answer or "",
            correct_guess=None if answer is None else answer == item.answer,
            rt_ms=None if answer is None else 900 + place,
            answered_at=None if answer is None else now,
        )
    participant.refresh_from_db()
    return participant


@pytest.fixture
def answered():
    """Study with items 0-2 (model right 0-1), attention item 3; three participants, six answers."""
    study = make_study("exp", n_correct=2, n_incorrect=1, n_attention=1)
    check = study.items.get(position=3)
    wrong = next(o for o in check.options if o not in {check.expected_option, CANT_TELL})
    a = add_participant(study, "gradcam", [wrong, CANT_TELL, "Bag"], status="completed")  # 3 of 4 answered
    b = add_participant(study, "pv", [check.expected_option, "Coat"], n_shown=3)  # 2 of 3 answered
    c = add_participant(study, "pv", [wrong], n_shown=1, last_seen_ago=60)  # dropped
    RecruitmentRecord.objects.create(participant=a, params={"PROLIFIC_PID": "PID-SECRET-42"})
    return study, (a, b, c)


def read_csv(text):
    return list(csv.reader(io.StringIO(text)))


def fetch(client, name, slug):
    response = client.get(reverse(name, args=[slug]))
    assert response.status_code == 200
    return response, b"".join(response.streaming_content).decode()


def test_trials_csv_has_exactly_the_columns_and_one_row_per_answer(staff_client, answered):
    study, (a, b, c) = answered
    response, text = fetch(staff_client, "researcher-trials-csv", study.slug)
    assert response.streaming is True
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="exp-trials.csv"'
    header, *rows = read_csv(text)
    assert header == TRIAL_HEADER
    assert len(rows) == Trial.objects.filter(answered_at__isnull=False).count() == 6
    assert [(int(r[0]), int(r[5])) for r in rows] == [
        (a.pk, 0),
        (a.pk, 1),
        (a.pk, 2),
        (b.pk, 0),
        (b.pk, 1),
        (c.pk, 0),
    ]

    by_key = {(int(r[0]), int(r[5])): dict(zip(header, r)) for r in rows}
    first = by_key[(a.pk, 0)]  # a saw the attention item first and failed it
    trial = Trial.objects.get(participant=a, presented_position=0)
    assert first["arm"] == "gradcam" and first["technique"] == "gradcam"
    assert (first["item"], first["item_position"]) == ("img003.png", "3")
    assert (first["model_correct"], first["is_attention_check"]) == ("False", "True")
    assert first["model_prediction"] == trial.item.model_prediction
    assert json.loads(first["presented_options"]) == trial.presented_options != trial.item.options
    assert (first["chosen_option"], first["correct_guess"], first["cant_tell"]) == (
        trial.chosen_option,
        "False",
        "False",
    )
    assert first["rt_ms"] == "900"
    assert datetime.fromisoformat(first["answered_at"]) == trial.answered_at
    assert datetime.fromisoformat(first["shown_at"]) == trial.shown_at
    assert by_key[(a.pk, 1)]["cant_tell"] == "True"
    assert by_key[(b.pk, 0)]["correct_guess"] == "True"


def test_participants_csv_reports_status_answers_and_attention_failures(staff_client, answered):
    study, (a, b, c) = answered
    response, text = fetch(staff_client, "researcher-participants-csv", study.slug)
    assert response.streaming is True
    assert response["Content-Disposition"] == 'attachment; filename="exp-participants.csv"'
    header, *rows = read_csv(text)
    assert header == PARTICIPANT_HEADER
    got = [(int(r[0]), r[1], r[2], r[3], int(r[6]), int(r[7])) for r in rows]
    assert got == [
        (a.pk, "gradcam", "gradcam", "completed", 3, 1),
        (b.pk, "pv", "pv", "active", 2, 0),
        (c.pk, "pv", "pv", "dropped", 1, 1),
    ]
    assert datetime.fromisoformat(rows[0][4]) == a.consented_at
    assert datetime.fromisoformat(rows[0][5]) == a.completed_at
    assert rows[1][5] == ""


def test_exports_carry_the_recruitment_ids_and_code_but_no_token(staff_client, answered):
    study, (a, b, c) = answered
    Participant.objects.filter(pk=a.pk).update(completion_code="CODE4242")
    for name in ("researcher-trials-csv", "researcher-participants-csv"):
        header, *rows = read_csv(fetch(staff_client, name, study.slug)[1])
        by_participant = {int(row[0]): dict(zip(header, row)) for row in rows}
        assert by_participant[a.pk]["PROLIFIC_PID"] == "PID-SECRET-42"
        assert by_participant[a.pk]["completion_code"] == "CODE4242"
        assert by_participant[b.pk]["PROLIFIC_PID"] == by_participant[b.pk]["completion_code"] == ""
        text = "\n".join(",".join(row) for row in rows)
        for participant in (a, b, c):
            assert participant.token not in text


def test_an_unknown_study_is_a_404(staff_client):
    assert staff_client.get(reverse("researcher-trials-csv", args=["nope"])).status_code == 404


@pytest.mark.parametrize("n_participants", [2, 30])
@pytest.mark.parametrize("name", ["researcher-trials-csv", "researcher-participants-csv"])
def test_export_query_count_does_not_grow_with_rows(
    staff_client, django_assert_max_num_queries, name, n_participants
):
    study = make_study("big", n_correct=3, n_incorrect=2, n_attention=1)
    for i in range(n_participants):
        add_participant(study, ["gradcam", "pv"][i % 2], ["Bag", CANT_TELL, "Coat", "Dress"])
    # Session, user, study, then one query for all the rows.
    with django_assert_max_num_queries(4):
        response = staff_client.get(reverse(name, args=[study.slug]))
        lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 1 + n_participants * (4 if name == "researcher-trials-csv" else 1)


def test_rows_stream_in_chunks_of_whole_lines():
    rows = [(i, f"text, with comma {i}", None) for i in range(1200)]
    chunks = list(export.csv_lines(["n", "text", "empty"], rows, rows_per_chunk=500))
    assert [chunk.count("\r\n") for chunk in chunks] == [1, 500, 500, 200]
    assert read_csv("".join(chunks))[1] == ["0", "text, with comma 0", ""]


def test_dataframes_match_the_csv_files(staff_client, answered):
    study, _ = answered
    for name, frame in [
        ("researcher-trials-csv", export.trials_dataframe(study)),
        ("researcher-participants-csv", export.participants_dataframe(study)),
    ]:
        _, text = fetch(staff_client, name, study.slug)
        dates = [c for c in frame.columns if c.endswith("_at")]
        from_csv = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
        for column in dates:
            from_csv[column] = pd.to_datetime(from_csv[column], utc=True, format="ISO8601")
        # text: "" where absent
        for column in ("outcome", "completion_code", *recruitment.RECRUITMENT_PARAMS, "session_ids"):
            from_csv[column] = from_csv[column].fillna("").astype(str)
        assert list(frame.columns) == list(from_csv.columns)
        pd.testing.assert_frame_equal(frame, from_csv, check_dtype=False)
    trials = export.trials_dataframe(study)
    assert trials["answered_at"].dt.tz is not None
    assert trials["correct_guess"].dtype == bool


def test_export_results_writes_the_same_files_as_the_views(staff_client, answered, tmp_path):
    study, _ = answered
    out = tmp_path / "out" / "exp"
    call_command("export_results", study.slug, "--out", str(out), stdout=io.StringIO())
    assert sorted(p.name for p in out.iterdir()) == ["participants.csv", "questionnaire.csv", "trials.csv"]
    assert (out / "trials.csv").stat().st_mode & 0o077 == 0  # research data: owner only
    for name, view in [
        ("trials.csv", "researcher-trials-csv"),
        ("participants.csv", "researcher-participants-csv"),
    ]:
        assert (out / name).read_bytes().decode() == fetch(staff_client, view, study.slug)[1]


def test_export_results_refuses_an_unknown_study(tmp_path):
    with pytest.raises(CommandError, match="No study with slug 'nope'"):
        call_command("export_results", "nope", "--out", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_export_results_refuses_an_output_path_that_is_a_file(tmp_path):
    study = make_study("exp")
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    with pytest.raises(CommandError, match="cannot create output folder"):
        call_command("export_results", study.slug, "--out", str(blocker))


@pytest.mark.parametrize("error, raised", [(RuntimeError, RuntimeError), (OSError, export.ExportError)])
def test_a_failing_export_leaves_the_previous_file_and_no_temporary_one(tmp_path, monkeypatch, error, raised):
    study = make_study("exp")
    out = tmp_path / "out"
    out.mkdir()
    (out / "trials.csv").write_text("previous export\n")

    def broken(study):
        yield "participant,arm\n"
        raise error("disk full")

    monkeypatch.setitem(export.EXPORTS, "trials.csv", broken)
    with pytest.raises(raised, match="disk full"):
        export.write_exports(study, out)
    assert sorted(p.name for p in out.iterdir()) == ["trials.csv"]
    assert (out / "trials.csv").read_text() == "previous export\n"


def test_a_large_export_streams_in_many_chunks_with_one_query_for_the_rows(
    staff_client, django_assert_max_num_queries
):
    study = make_study("large", n_correct=5, n_incorrect=5)
    items, arms = list(study.items.all()), list(study.arms.all())
    participants = Participant.objects.bulk_create(
        Participant(study=study, arm=arms[i % 2], token=f"token-{i}", seed=i) for i in range(300)
    )
    now = timezone.now()
    Trial.objects.bulk_create(
        Trial(
            participant=p,
            item=item,
            presented_position=place,
            presented_options=item.options,
            chosen_option=item.options[place % 5],
            correct_guess=place % 5 == 0,
            rt_ms=700,
            shown_at=now,
            answered_at=now,
        )
        for p in participants
        for place, item in enumerate(items)
    )
    with django_assert_max_num_queries(4):
        response = staff_client.get(reverse("researcher-trials-csv", args=[study.slug]))
        chunks = list(response.streaming_content)
    assert len(chunks) == 1 + 3000 // 500  # the header, then 500 rows a chunk
    rows = read_csv(b"".join(chunks).decode())
    assert len(rows) == 1 + 300 * 10
    assert len({int(row[0]) for row in rows[1:]}) == 300


def test_the_analysis_library_reads_the_frames_and_the_csv_files_alike(staff_client, answered):
    study, (a, b, c) = answered
    from_frames = simulatability.participant_accuracies(
        export.trials_dataframe(study), export.participants_dataframe(study)
    )
    csvs = [
        pd.read_csv(io.StringIO(fetch(staff_client, name, study.slug)[1]))
        for name in ("researcher-trials-csv", "researcher-participants-csv")
    ]
    from_csv = simulatability.participant_accuracies(*csvs)
    pd.testing.assert_frame_equal(from_frames, from_csv, check_dtype=False)
    # Only a completed; a answered item 2 (model wrong) "can't tell" and item 1 (model right);
    # the attention check does not count.
    assert from_frames["participant"].tolist() == [a.pk, a.pk]
    assert from_frames["n_questions"].tolist() == [1, 1]
    item1 = Trial.objects.get(participant=a, item__position=1)
    right = dict(zip(from_frames["subset"], from_frames["n_right"]))
    assert right == {"model correct": int(item1.correct_guess), "model incorrect": 0}
