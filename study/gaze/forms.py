"""The gaze upload form: the options of an import and its files (a zip archive, or stimuli with their
maps and/or a fixation table). It checks the values and the file names only; the import job reads the
files and checks everything else, all or nothing."""

from __future__ import annotations

from dataclasses import asdict

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.files.uploadedfile import UploadedFile

from study.archives import Problem
from study.gaze.options import ImportOptions, option_problems
from study.gaze.layout import path_problem

ARCHIVE = "archive.zip"  # where the job finds an uploaded zip, under its upload folder
DATA = "data"  # where it finds uploaded files, laid out as stimuli/, fixation_maps/ and the table


class _Text(forms.Field):
    """A text value, stripped; NUL characters are left for `option_problems` to name."""

    def __init__(self):
        super().__init__(required=False)

    def to_python(self, value) -> str:
        return (value or "").strip()


class _Ticked(forms.Field):
    """A checkbox: True when the browser sent it ticked ("on")."""

    def __init__(self):
        super().__init__(required=False)

    def to_python(self, value) -> bool:
        return value == "on"


class _File(forms.Field):
    """The file posted under the field's name, or None."""

    widget = forms.FileInput

    def __init__(self):
        super().__init__(required=False)


class _MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class _Files(forms.Field):
    """Every file posted under the field's name (a list, maybe empty)."""

    widget = _MultipleFileInput

    def __init__(self):
        super().__init__(required=False)

    def to_python(self, value) -> list[UploadedFile]:
        return list(value or [])


class GazeUploadForm(forms.Form):
    """What `import_gaze` needs, as the upload page asks for it (the page renders its own fields).
    `problems()` lists what is wrong in the page's words."""

    name = _Text()
    description = _Text()
    task = _Text()
    n_observers = _Text()
    ppd = _Text()
    sigma_px = _Text()
    resample = _Ticked()
    weight_by_duration = _Ticked()
    archive = _File()
    stimuli = _Files()
    maps = _Files()
    table = _Files()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.upload_problems: list[Problem] = []

    def clean_n_observers(self) -> int | None:
        return self._number("n_observers", int)

    def clean_ppd(self) -> float | None:
        return self._number("ppd", float)

    def clean_sigma_px(self) -> float | None:
        return self._number("sigma_px", float)

    def _number(self, field: str, kind: type) -> int | float | None:
        value = self.cleaned_data[field]
        if not value:
            return None
        try:
            return kind(value)
        except ValueError:
            raise forms.ValidationError(
                f"{field} must be a{'n integer' if kind is int else ' number'}, not {value!r}") from None

    def clean(self) -> dict:
        data = super().clean()
        self.upload_problems = option_problems(self.options()) + self._file_problems()
        for problem in self.upload_problems:
            self.add_error(None, str(problem))
        return data

    def _file_problems(self) -> list[Problem]:
        problems = []
        uploads = self._uploads()
        if self.cleaned_data["archive"] and any(uploads.values()):
            problems.append(Problem("(upload)", "upload either a zip archive or separate files, not both"))
        if not self.cleaned_data["archive"] and not uploads["stimuli/"]:
            problems.append(
                Problem("(upload)", "choose a zip archive, or the stimuli and their maps or fixation table"))
        names = set()
        for folder, uploaded in uploads.items():
            for file in uploaded:
                if folder + file.name in names:
                    problems.append(Problem(folder + file.name, "uploaded twice"))
                if file.name in {"", ".", ".."}:
                    problems.append(Problem(folder + file.name, "has no usable file name"))
                elif why := path_problem(folder + file.name):
                    problems.append(Problem(folder + file.name, why))
                names.add(folder + file.name)
        return problems

    def _uploads(self) -> dict[str, list[UploadedFile]]:
        """The separate files by the folder of the import's layout they go to."""
        data = self.cleaned_data
        return {"stimuli/": data["stimuli"], "fixation_maps/": data["maps"], "": data["table"]}

    def problems(self) -> list[Problem]:
        """Every problem, in the order the page lists them: a value that is not a number, then the options
        and the files."""
        values = [Problem("(form)", message) for field, messages in self.errors.items()
                  if field != NON_FIELD_ERRORS for message in messages]
        return values + self.upload_problems

    def options(self, owner_id: int | None = None) -> ImportOptions:
        """The import's options, the data set owned by the user `owner_id`."""
        data = self.cleaned_data
        return ImportOptions(description=data["description"], task=data["task"],
                             n_observers=data.get("n_observers"), pixels_per_degree=data.get("ppd"),
                             sigma_px=data.get("sigma_px"), resample=data["resample"],
                             weight_by_duration=data["weight_by_duration"], owner_id=owner_id)

    def job_inputs(self, owner_id: int) -> tuple[dict, dict[str, UploadedFile]]:
        """The "gaze_import" job's params and its uploads (a path under the job's upload folder -> upload)
        of a valid form, the data set owned by the user `owner_id`."""
        archive = self.cleaned_data["archive"]
        params = {"name": self.cleaned_data["name"], "options": asdict(self.options(owner_id)),
                  "upload": ARCHIVE if archive else DATA, "archive_name": archive.name if archive else ""}
        if archive:
            return params, {ARCHIVE: archive}
        return params, {f"{DATA}/{folder}{file.name}": file
                        for folder, uploaded in self._uploads().items() for file in uploaded}
