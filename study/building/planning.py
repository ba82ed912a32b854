"""Sample-size planning: the participants per arm a study needs (`analysis.power`), from expected
accuracies or from a pilot study's answers; the `plan_study` command and the dashboard's box."""

from __future__ import annotations

from django import forms

from analysis.errors import AnalysisError
from analysis.power import Arm, Power, arms_from_pilot, sample_size
from analysis.simulatability import ALTERNATIVES, participant_accuracies
from study.models import Study
from study.research.export import participants_dataframe, trials_dataframe

PAGE_SIMULATIONS = 1000  # per n tried on the dashboard: about a second of CPU in all


def pilot_arms(study: Study, subset: str) -> dict[str, tuple[Arm, int]]:
    """Per arm of `study` (completed participants only): its Arm and number of questions in `subset`."""
    accuracies = participant_accuracies(trials_dataframe(study), participants_dataframe(study))
    return arms_from_pilot(accuracies, subset)


class PlanForm(forms.Form):
    """The dashboard's planning box (a GET form: it changes nothing)."""

    first = forms.FloatField(min_value=0, max_value=1, label="Expected accuracy, first arm")
    second = forms.FloatField(min_value=0, max_value=1, label="Expected accuracy, second arm")
    first_sd = forms.FloatField(min_value=0, max_value=0.5, initial=0.1, label="Participant SD, first arm")
    second_sd = forms.FloatField(min_value=0, max_value=0.5, initial=0.1, label="Participant SD, second arm")
    questions = forms.IntegerField(min_value=1, max_value=500, initial=14, label="Questions per participant")
    power = forms.FloatField(min_value=0.5, max_value=0.99, initial=0.8)
    alpha = forms.FloatField(min_value=0.001, max_value=0.2, initial=0.05)
    alternative = forms.ChoiceField(choices=[(a, a) for a in ALTERNATIVES], initial="two-sided",
                                    help_text='"less": the first arm tends lower')


def plan_from_query(query) -> tuple[PlanForm, Power | None, str]:
    """The box's form, the sample size when the query holds a valid plan, and an error message."""
    if "plan-first" not in query:
        return PlanForm(prefix="plan"), None, ""
    form = PlanForm(query, prefix="plan")
    if not form.is_valid():
        return form, None, ""
    data = form.cleaned_data
    try:
        result = sample_size(
            Arm(data["first"], data["first_sd"]), Arm(data["second"], data["second_sd"]), data["questions"],
            power=data["power"], alpha=data["alpha"], alternative=data["alternative"],
            n_simulations=PAGE_SIMULATIONS, max_per_arm=1000,
        )
    except AnalysisError as error:
        return form, None, str(error)
    return form, result, ""
