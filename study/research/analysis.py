"""A study's analysis written into a folder: what `analyze_study` runs and what an "analysis" job
calls (the analysis page shows the latest job's files, see study.research.analysis_page)."""
from __future__ import annotations

from pathlib import Path

from analysis.reports import write_simulatability_report
from study.building.options import describe_distractors
from study.models import Study
from study.research.export import participants_dataframe, questionnaire_dataframe, trials_dataframe


def write_study_analysis(study: Study, folder: Path, method: str = "auto") -> list[Path]:
    """Write the simulatability report of `study`'s answers (completed participants only: Table 1, the
    Mann-Whitney tests with p-values by `method`, the histograms, ...) into `folder`, headed by how the
    options were chosen; returns the files written. AnalysisError when the answers cannot be analysed."""
    return write_simulatability_report(
        trials_dataframe(study), participants_dataframe(study), folder, method=method,
        questionnaire=questionnaire_dataframe(study), notes=[describe_distractors(study.provenance)],
    )
