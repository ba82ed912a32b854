"""Drive the participant pages: with Django's test client, or over HTTP with `requests`."""
import html
import re
from concurrent.futures import ThreadPoolExecutor

import requests
from django.test import Client

from study.models import Participant, Trial


def consent(client: Client, slug: str = "s1", query: str = "") -> Participant:
    """GET the landing page, POST its consent form, return the new participant."""
    landing = client.get(f"/s/{slug}/{query}")
    assert landing.status_code == 200
    form = {"consent_key": landing.context["consent_key"], **landing.context["params"]}
    response = client.post(f"/s/{slug}/", form)
    assert response.status_code == 302
    participant = Participant.objects.get(token=response.url.split("/")[2])
    assert response.url == f"/p/{participant.token}/"
    return participant


def current_trial(client: Client, participant: Participant) -> Trial:
    """GET the participant's page, which must be a question; return its trial."""
    response = client.get(f"/p/{participant.token}/")
    assert response.status_code == 200
    assert "survey/question.html" in [t.name for t in response.templates]
    return response.context["page"].trial


def post_answer(client: Client, participant: Participant, trial: Trial, option: str | None = None,
                rt_ms: int = 1234):
    """POST an answer (the first presented option unless given) and return the response."""
    option = trial.presented_options[0] if option is None else option
    form = {"trial": trial.pk, "option": option, "rt_ms": rt_ms}
    return client.post(f"/p/{participant.token}/answer/", form)


def run_to_completion(client: Client, participant: Participant) -> None:
    """Read the intro and answer every question with its first presented option."""
    assert client.post(f"/p/{participant.token}/intro/").status_code == 302
    for _ in range(participant.trials.count()):
        trial = current_trial(client, participant)
        assert post_answer(client, participant, trial).status_code == 302


# Over HTTP with `requests`, as a browser would: one Session (cookie jar) per participant.


class OneShotSession(requests.Session):
    """Keeps cookies but opens a new connection per request: Django's threaded test servers stall on
    kept-alive connections (~40 ms a request) and hold a thread and a database connection per idle client."""

    def request(self, *args, **kwargs) -> requests.Response:
        try:
            return super().request(*args, **kwargs)
        finally:
            self.close()

FIELD_RE = r'name="{}" value="([^"]*)"'


def form_field(html_text: str, name: str) -> str:
    match = re.search(FIELD_RE.format(re.escape(name)), html_text)
    assert match, f"no {name} field in the page"
    return html.unescape(match.group(1))


def start_over_http(session: requests.Session, base_url: str, slug: str) -> str:
    """GET the landing page and POST its consent form; return the participant's token."""
    landing = session.get(f"{base_url}/s/{slug}/", timeout=60)
    landing.raise_for_status()
    form = {name: form_field(landing.text, name) for name in ("csrfmiddlewaretoken", "consent_key")}
    intro = session.post(landing.url, data=form, timeout=60)
    intro.raise_for_status()
    assert "/p/" in intro.url and "Start the questions" in intro.text, intro.url
    return intro.url.rstrip("/").rsplit("/", 1)[1]


def finish_over_http(session: requests.Session, base_url: str, token: str, send_twice: bool = False) -> int:
    """Read the intro, answer every question (the first option), reach completion; return answers sent."""
    url = f"{base_url}/p/{token}/"
    page = session.get(url, timeout=60)
    csrf = {"csrfmiddlewaretoken": form_field(page.text, "csrfmiddlewaretoken")}
    page = session.post(url + "intro/", data=csrf, timeout=60)
    answers = 0
    while 'name="trial"' in page.text:
        form = {name: form_field(page.text, name) for name in ("csrfmiddlewaretoken", "trial", "option")}
        form["rt_ms"] = "700"
        for _ in range(2 if send_twice else 1):
            page = session.post(url + "answer/", data=form, timeout=60)
            page.raise_for_status()
        answers += 1
    assert "Your completion code is" in page.text, page.text[:500]
    return answers


def drive_over_http(base_url: str, slug: str, participants: int, workers: int) -> int:
    """Start `participants` at once (all consent before any answers), then walk them all; return answers."""
    sessions = [OneShotSession() for _ in range(participants)]
    with ThreadPoolExecutor(workers) as pool:
        tokens = list(pool.map(lambda i: start_over_http(sessions[i], base_url, slug), range(participants)))
        sent = pool.map(lambda i: finish_over_http(sessions[i], base_url, tokens[i], send_twice=i % 5 == 0),
                        range(participants))
        return sum(sent)
