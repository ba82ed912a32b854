"""Participant pages: landing with consent, then one URL per participant whose page the server picks.

Every POST redirects back to GET /p/<token>/ (post-redirect-get); pages are never cached.
"""
from functools import wraps

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from study.models import Participant, Study
from study.models.questionnaire import MAX_CONFIDENCE_LEVELS
from study.survey import completion, enrolment, errors, flow, recruitment
from study.survey.designs import design_of, design_of_trial
from study.survey.questionnaire import BlockForm

TEMPLATES = {
    flow.PageKind.INTRO: "survey/intro.html",
    flow.PageKind.QUESTION: "survey/question.html",
    flow.PageKind.BLOCK: "survey/block.html",
    flow.PageKind.COMPLETE: "survey/complete.html",
}


class AnswerForm(forms.Form):
    """The fields every design's answer has; the design checks the rest of the POST (study.survey.designs)."""

    trial = forms.IntegerField(min_value=1)
    option = forms.CharField(max_length=200, strip=False, required=False)  # checked by the design
    rt_ms = forms.IntegerField(required=False, min_value=0, max_value=flow.MAX_RT_MS)
    confidence = forms.IntegerField(required=False, min_value=1, max_value=MAX_CONFIDENCE_LEVELS)


def shows_flow_errors(view):
    """Turn a refused request (errors.FlowError) into a clear page with its HTTP status."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except errors.AlreadyTakenPart as error:
            return render(request, "survey/already_taken_part.html", {"message": str(error)})
        except errors.FlowError as error:
            token = kwargs.get("token") if not isinstance(error, (errors.NotFound, errors.Gone)) else None
            forward_url = error.forward_url if isinstance(error, errors.ScreenedOut) else ""
            response = render(request, "survey/error.html",
                              {"message": str(error), "token": token, "forward_url": forward_url},
                              status=error.status)
            if isinstance(error, errors.TooManyParticipants):
                response["Retry-After"] = str(enrolment.RATE_WINDOW_S)
            return response

    return wrapped


def session_key(study: Study) -> str:
    return f"participant:{study.pk}"


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@shows_flow_errors
def landing(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the consent page (writes nothing). POST: consent, arm assignment, then the participant's URL."""
    study = enrolment.open_study(slug)
    token = request.session.get(session_key(study))
    known = Participant.objects.filter(token=token, study=study).first() if token else None
    if known is not None:
        recruitment.record_session(known, recruitment.recruitment_params(request.GET))
        return redirect("participant-page", token=token)
    enrolment.accept_new_participants(study)
    if request.method == "POST":
        params = recruitment.recruitment_params(request.POST)
        key = request.POST.get("consent_key", "")
        participant = enrolment.consent(study, key, params, client_of(request))
        request.session[session_key(study)] = participant.token
        return redirect("participant-page", token=participant.token)
    params = recruitment.recruitment_params(request.GET)
    returning = recruitment.returning_participant(study, params)  # same external ID, maybe in a new browser
    if returning is not None:
        return redirect("participant-page", token=returning.token)
    return render(request, "survey/landing.html",
                  {"study": study, "consent_key": enrolment.issue_consent_key(study), "params": params})


@never_cache
@require_safe
@shows_flow_errors
def declined(request: HttpRequest, slug: str) -> HttpResponse:
    """The page after "I do not agree": nothing was written; on to the study's screened-out redirect when
    it has one."""
    study = enrolment.open_study(slug)
    return render(request, "survey/declined.html",
                  {"study": study, "forward_url": completion.screened_out_url(study)})


def client_of(request: HttpRequest) -> str:
    """The hashed network address of the client (CLIENT_ADDRESS_HEADER, the last hop a proxy added)."""
    address = request.META.get(settings.CLIENT_ADDRESS_HEADER, "").rsplit(",", 1)[-1].strip()
    return enrolment.client_hash(address) if address else ""


@never_cache
@require_safe
@shows_flow_errors
def participant_page(request: HttpRequest, token: str) -> HttpResponse:
    """Whichever page the participant is on: intro, the current question, or completion."""
    page = flow.current_page(flow.participant_for(token))
    study = page.participant.study
    design = design_of_trial(study, page.trial) if page.trial else design_of(study)
    context = {"page": page, "study": page.participant.study, "arm": page.participant.arm, "design": design,
               "design_context": design.page_context(page.trial) if page.trial else {},
               "completion_url": completion.completion_url(page.participant),
               "preview": page.participant.is_preview}
    if page.block is not None:
        context["form"] = BlockForm(page.block)
    return render(request, TEMPLATES[page.kind], context)


@never_cache
@require_safe
@shows_flow_errors
def complete(request: HttpRequest, token: str) -> HttpResponse:
    """The completion page that forwards a finished participant at once to the study's redirect (a meta
    refresh: a redirect answering a form's POST would break the CSP's form-action 'self' for another
    origin), with their code and a button; the participant's page for anyone not finished."""
    participant = flow.participant_for(token)
    if participant.status != Participant.Status.COMPLETED:
        return redirect("participant-page", token=token)
    page = flow.Page(flow.PageKind.COMPLETE, participant)
    url = completion.completion_url(participant)
    return render(request, TEMPLATES[flow.PageKind.COMPLETE],
                  {"page": page, "study": participant.study, "arm": participant.arm, "completion_url": url,
                   "forward_url": url, "preview": participant.is_preview})


def after_answer(token: str, completion_url: str) -> HttpResponse:
    """Where a saved answer leads: the forwarding completion page once the participant finished a study
    with a redirect (their `completion_url`), else the participant's page."""
    return redirect("participant-complete" if completion_url else "participant-page", token=token)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@shows_flow_errors
def withdraw(request: HttpRequest, token: str) -> HttpResponse:
    """GET: asks to confirm (writes nothing). POST: withdraws (Study.withdrawal_policy) and confirms."""
    if request.method == "POST":
        flow.withdraw(token)
        participant = Participant.objects.select_related("study").get(token=token)
        return render(request, "survey/withdrawn.html",
                      {"study": participant.study, "preview": participant.is_preview})
    participant = flow.participant_for(token)
    if participant.status != Participant.Status.ACTIVE:
        return redirect("participant-page", token=token)
    return render(request, "survey/withdraw.html",
                  {"study": participant.study, "participant": participant, "preview": participant.is_preview})


@never_cache
@require_POST
@shows_flow_errors
def intro_done(request: HttpRequest, token: str) -> HttpResponse:
    flow.finish_intro(flow.participant_for(token))
    return redirect("participant-page", token=token)


@never_cache
@require_POST
@shows_flow_errors
def answer(request: HttpRequest, token: str) -> HttpResponse:
    form = AnswerForm(request.POST)
    if not form.is_valid():
        raise errors.BadInput("Please choose one of the options shown.")
    data = form.cleaned_data
    answered = flow.answer(token, data["trial"], request.POST.dict() | data, data["rt_ms"])
    return after_answer(token, answered.completion_url)


@never_cache
@require_POST
@shows_flow_errors
def answer_block(request: HttpRequest, token: str, block_id: int) -> HttpResponse:
    """Save a questionnaire block's answers; invalid ones re-show the block with the messages."""
    form = flow.answer_block(token, block_id, request.POST)
    participant = flow.participant_for(token)
    if form is None:
        return after_answer(token, completion.completion_url(participant))
    page = flow.Page(flow.PageKind.BLOCK, participant, block=form.block)
    context = {"page": page, "study": participant.study, "arm": participant.arm, "form": form,
               "preview": participant.is_preview}
    return render(request, TEMPLATES[flow.PageKind.BLOCK], context)
