"""The forms on a study's page: its settings, and its clicks made a gaze data set."""
import markdown
import nh3
from django import forms

from study.models import Arm, GazeDataset, Study


def render_markdown(text: str) -> str:
    """Markdown -> HTML cleaned by nh3 (no script, no event handler, no javascript: link)."""
    return nh3.clean(markdown.markdown(text or "", extensions=["sane_lists"]))


class StudySettingsForm(forms.ModelForm):
    """A study's settings on its page. Consent text is written in Markdown, stored as sanitised HTML; the
    source is kept in `consent_markdown`. A new setting is one more name in `fields`."""

    consent_markdown = forms.CharField(label="Consent text (Markdown)", required=False,
                                       widget=forms.Textarea(attrs={"rows": 8}))
    completion_redirect_url = forms.URLField(
        required=False, max_length=200, assume_scheme="https",
        help_text="Where participants go when they finish (and, with a screened-out code, when they decline "
                  "or the study is full), with the code of their outcome: {code} in the URL is replaced by "
                  "it, otherwise the URL's cc= is set to it, or added (as Prolific expects). Empty: none.")

    class Meta:
        model = Study
        fields = ["status", "consent_markdown", "contact_text", "ethics_text", "completion_redirect_url",
                  "completion_codes", "completed_code", "failed_attention_code", "screened_out_code",
                  "attention_failures_to_fail", "assignment_policy", "withdrawal_policy"]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("completion_codes") == Study.CompletionCodes.STUDY and not data.get("completed_code"):
            self.add_error("completed_code", "study codes need the completed code: copy it from the platform")
        return data

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A study built with HTML consent text: that HTML is the starting Markdown (HTML passes through).
        self.initial["consent_markdown"] = self.instance.consent_markdown or self.instance.consent_text
        self.arm_caps = {}
        for arm in self.instance.arms.order_by("position"):
            field = forms.IntegerField(required=False, min_value=1, initial=arm.max_participants,
                                       label=f"Cap of arm {arm.name}", help_text="Empty: no cap.")
            self.fields[f"cap_{arm.pk}"] = field
            self.arm_caps[f"cap_{arm.pk}"] = arm

    def save(self, commit: bool = True) -> Study:
        study = super().save(commit=False)
        study.consent_markdown = self.cleaned_data["consent_markdown"]
        study.consent_text = render_markdown(study.consent_markdown)
        if commit:
            study.save()
            for name, arm in self.arm_caps.items():
                Arm.objects.filter(pk=arm.pk).update(max_participants=self.cleaned_data[name])
        return study


class ClicksGazeForm(forms.Form):
    """A gaze data set of a study's clicks (study.gaze.clicks): its name and its GFDMs' sigma."""

    name = forms.SlugField(max_length=100, help_text="Letters, digits, - and _.")
    sigma_px = forms.FloatField(
        min_value=0.1, max_value=1000, initial=20, label="GFDM sigma (item-image pixels)",
        help_text="The Gaussian each click is blurred with, as imported fixations are (about one degree of "
                  "visual angle).")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if GazeDataset.objects.filter(name=name).exists():
            raise forms.ValidationError(f"a gaze data set {name!r} exists already; choose another name")
        return name
