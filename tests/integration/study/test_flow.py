"""The participant's way through a study, with the Django test client on a small real study."""
import pytest

from study.models import Participant, RecruitmentRecord, Study, Trial
from study.models.study import CANT_TELL
from study.survey.designs.simulation import shuffled_options
from study.survey.enrolment import build_trials
from tests.factories import make_study
from tests.integration.study.participant_helpers import consent, current_trial, post_answer, run_to_completion

pytestmark = pytest.mark.django_db


def test_landing_get_shows_consent_and_writes_nothing(client):
    study = make_study(consent_text="We record your answers, nothing else.")
    response = client.get("/s/s1/")
    assert response.status_code == 200
    assert b"We record your answers, nothing else." in response.content
    assert b"csrfmiddlewaretoken" in response.content
    assert "no-store" in response["Cache-Control"]
    assert Participant.objects.count() == 0
    study.refresh_from_db()
    assert study.assignments_made == 0


def test_consent_assigns_an_arm_and_creates_every_trial(client):
    study = make_study()
    participant = consent(client)
    assert participant.arm.study == study
    study.refresh_from_db()
    assert study.assignments_made == 1
    trials = list(participant.trials.order_by("presented_position"))
    assert [t.presented_position for t in trials] == list(range(5))
    assert sorted(t.item.position for t in trials) == list(range(5))
    assert all(t.answered_at is None and t.shown_at is None for t in trials)


def test_recruitment_parameters_are_kept_apart_from_the_answers(client):
    make_study()
    participant = consent(client, query="?PROLIFIC_PID=pid123&STUDY_ID=st9&SESSION_ID=se7&tracker=evil")
    record = RecruitmentRecord.objects.get(participant=participant)
    assert record.params == {"PROLIFIC_PID": "pid123", "STUDY_ID": "st9", "SESSION_ID": "se7"}
    run_to_completion(client, participant)
    for trial in Trial.objects.filter(participant=participant):
        assert "pid123" not in str(trial.presented_options) + trial.chosen_option


def test_returning_to_the_study_link_resumes_and_a_resubmitted_consent_makes_no_new_participant(client):
    make_study()
    landing = client.get("/s/s1/")
    form = {"consent_key": landing.context["consent_key"]}
    first = client.post("/s/s1/", form)
    assert client.get("/s/s1/").url == first.url
    other_browser = type(client)()
    assert other_browser.post("/s/s1/", form).url == first.url  # same form sent again without the cookie
    assert Participant.objects.count() == 1
    assert Study.objects.get().assignments_made == 1


def test_intro_then_questions_then_completion_with_correct_guesses_recorded(client):
    make_study(completion_redirect_url="https://example.org/done?study=9")
    participant = consent(client)
    page = client.get(f"/p/{participant.token}/")
    assert "survey/intro.html" in [t.name for t in page.templates]
    assert b"This is how" in page.content
    client.post(f"/p/{participant.token}/intro/")
    seen = []
    for number in range(1, 6):
        response = client.get(f"/p/{participant.token}/")
        assert f"Question {number} of 5".encode() in response.content
        assert b"What is the model's prediction?" in response.content
        assert b"example.org" not in response.content
        trial = response.context["page"].trial
        seen.append(trial.pk)
        choice = trial.item.model_prediction if number % 2 else CANT_TELL
        response = post_answer(client, participant, trial, choice, rt_ms=900 + number)
        if number < 5:
            assert response.url == f"/p/{participant.token}/"
    assert len(set(seen)) == 5
    participant.refresh_from_db()
    # The last answer leads to the completion page, which forwards at once to the recruitment platform,
    # carrying the code as Prolific expects.
    assert response.url == f"/p/{participant.token}/complete/"
    forwarding = client.get(response.url)
    assert (f'<meta http-equiv="refresh" content="0;url=https://example.org/done?study=9&amp;cc='
            f'{participant.completion_code}">').encode() in forwarding.content
    done = client.get(f"/p/{participant.token}/")
    assert participant.status == Participant.Status.COMPLETED
    assert len(participant.completion_code) == 10
    assert participant.completion_code.encode() in done.content
    assert f"https://example.org/done?study=9&amp;cc={participant.completion_code}".encode() in done.content
    for trial in participant.trials.select_related("item"):
        assert trial.correct_guess == (trial.chosen_option == trial.item.model_prediction)
        assert trial.shown_at <= trial.answered_at
        assert trial.rt_ms == 900 + trial.presented_position + 1
    assert participant.last_seen_at == max(t.answered_at for t in participant.trials.all())


def test_pages_never_say_whether_the_model_was_right(client):
    make_study()
    participant = consent(client)
    client.post(f"/p/{participant.token}/intro/")
    for _ in range(5):
        response = client.get(f"/p/{participant.token}/")
        text = response.content.decode().lower()
        assert not any(word in text for word in ("correct", "wrong", "mistake", "true label"))
        post_answer(client, participant, response.context["page"].trial)
    assert "correct" not in client.get(f"/p/{participant.token}/").content.decode().lower()


def test_options_are_shuffled_per_participant_and_question_from_the_stored_seed(client):
    make_study(n_correct=6, n_incorrect=4)
    participants = [consent(type(client)()) for _ in range(4)]
    orders = set()
    for participant in participants:
        for trial in participant.trials.select_related("item"):
            assert trial.presented_options == shuffled_options(participant.seed, trial.item)
            assert sorted(trial.presented_options) == sorted(trial.item.options)
            assert trial.presented_options[-1] == CANT_TELL
            orders.add(tuple(trial.presented_options))
    assert len(orders) > 10  # 40 shuffles of 4 options: nearly all differ


def test_question_order_shuffled_from_the_seed_or_fixed(client):
    make_study(n_correct=6, n_incorrect=4)
    make_study(slug="fixed", n_correct=6, n_incorrect=4, question_order=Study.QuestionOrder.FIXED)
    shuffled = [consent(type(client)()) for _ in range(3)]
    item_orders = set()
    for participant in shuffled:
        stored = [t.item_id for t in participant.trials.order_by("presented_position")]
        again = build_trials(participant, list(participant.study.items.order_by("position")))
        assert stored == [t.item.pk for t in again]
        item_orders.add(tuple(stored))
    assert len(item_orders) == 3
    fixed = consent(type(client)(), slug="fixed")
    assert [t.item.position for t in fixed.trials.order_by("presented_position")] == list(range(10))


def test_refresh_shows_the_same_question_and_keeps_the_first_shown_time(client):
    make_study()
    participant = consent(client)
    client.post(f"/p/{participant.token}/intro/")
    first = current_trial(client, participant)
    shown_at = Trial.objects.get(pk=first.pk).shown_at
    assert shown_at is not None
    again = current_trial(client, participant)
    assert again.pk == first.pk
    assert Trial.objects.get(pk=first.pk).shown_at == shown_at
    client.post(f"/p/{participant.token}/intro/")  # intro form sent again: no change
    assert current_trial(client, participant).pk == first.pk


def test_double_submit_and_back_button_resubmission_write_once(client):
    make_study()
    participant = consent(client)
    client.post(f"/p/{participant.token}/intro/")
    trial = current_trial(client, participant)
    first, second = trial.presented_options[0], trial.presented_options[1]
    assert post_answer(client, participant, trial, first).status_code == 302
    answered = Trial.objects.get(pk=trial.pk)
    assert post_answer(client, participant, trial, second).status_code == 302  # the old page, sent again
    again = Trial.objects.get(pk=trial.pk)
    assert (again.chosen_option, again.answered_at) == (first, answered.answered_at)
    assert current_trial(client, participant).presented_position == 1


def test_a_second_tab_cannot_overwrite_or_skip(client):
    make_study()
    participant = consent(client)
    client.post(f"/p/{participant.token}/intro/")
    tab_a = current_trial(client, participant)
    tab_b = current_trial(client, participant)
    post_answer(client, participant, tab_a, tab_a.presented_options[2])
    response = post_answer(client, participant, tab_b, tab_b.presented_options[0])
    assert response.url == f"/p/{participant.token}/"
    assert Trial.objects.get(pk=tab_a.pk).chosen_option == tab_a.presented_options[2]
    assert participant.trials.filter(answered_at__isnull=False).count() == 1


def test_the_last_answer_sent_twice_still_completes_once(client):
    make_study(n_correct=1, n_incorrect=0)
    participant = consent(client)
    client.post(f"/p/{participant.token}/intro/")
    trial = current_trial(client, participant)
    post_answer(client, participant, trial)
    code = Participant.objects.get(pk=participant.pk).completion_code
    post_answer(client, participant, trial)
    assert Participant.objects.get(pk=participant.pk).completion_code == code


def test_attention_checks_are_asked_like_other_questions(client):
    make_study(n_attention=1)
    participant = consent(client)
    client.post(f"/p/{participant.token}/intro/")
    for _ in range(6):
        trial = current_trial(client, participant)
        choice = trial.item.expected_option if trial.item.is_attention_check else trial.presented_options[0]
        post_answer(client, participant, trial, choice)
    check = participant.trials.get(item__is_attention_check=True)
    assert check.chosen_option == check.item.expected_option and check.correct_guess is True
    assert Participant.objects.get(pk=participant.pk).status == Participant.Status.COMPLETED
