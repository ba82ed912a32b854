"""Storing a checked gaze data set: one transaction for its rows, each staged file moved into MEDIA_ROOT
under a temporary name and renamed; if anything fails, the files written are removed again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import transaction

from study.gaze.options import ImportOptions
from study.gaze.staging import Staged
from study.models import GazeDataset, GazeFixations, GazeMap, GazeStimulus


def store_dataset(name: str, staged: list[Staged], provenance: dict, options: ImportOptions) -> GazeDataset:
    """Create data set `name` with its `staged` stimuli in one transaction, moving their files from the
    staging folder into MEDIA_ROOT/gaze/NAME/; on any error (the database's, a full disk) the rows and
    the files written are gone again and the error is raised."""
    written: list[Path] = []
    media = Path(settings.MEDIA_ROOT)

    def place(source: Path, folder: str, stem: str, suffix: str) -> str:
        relative = f"gaze/{name}/{folder}/{stem}-{source.name[:16]}{suffix.lower()}"
        final = media / relative
        if not final.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            partial = final.with_name(final.name + ".part")
            shutil.move(source, partial)  # a rename when staging and MEDIA_ROOT share a file system
            written.append(partial)
            os.replace(partial, final)
            written.append(final)
        return relative

    try:
        with transaction.atomic():
            dataset = GazeDataset.objects.create(
                name=name,
                description=options.description,
                task=options.task,
                n_observers=options.n_observers,
                pixels_per_degree=options.pixels_per_degree,
                sigma_px=provenance["sigma_px"],
                owner_id=options.owner_id,
                source_format=provenance["source_format"],
                provenance=provenance,
            )
            stimuli = GazeStimulus.objects.bulk_create(
                [
                    GazeStimulus(
                        dataset=dataset,
                        name=s.name,
                        width=s.width,
                        height=s.height,
                        sha256=s.image[2],
                        image=place(s.image[0], "stimuli", s.name, PurePosixPath(s.image[1]).suffix),
                    )
                    for s in staged
                ]
            )
            GazeMap.objects.bulk_create(
                [
                    GazeMap(
                        stimulus=row,
                        array=place(s.map[0], "maps", s.name, ".npy"),
                        preview=place(s.map[1], "previews", s.name, ".png"),
                        source_name=s.map[2],
                        source_sha256=s.map[3],
                    )
                    for row, s in zip(stimuli, staged)
                    if s.map
                ]
            )
            GazeFixations.objects.bulk_create(
                [
                    GazeFixations(
                        stimulus=row,
                        array=place(s.fixations[0], "fixations", s.name, ".npz"),
                        count=s.fixations[1],
                        source_name=s.fixations[2],
                        source_sha256=s.fixations[3],
                    )
                    for row, s in zip(stimuli, staged)
                    if s.fixations
                ]
            )
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        _remove_empty(media / "gaze" / name)
        raise
    return dataset


def _remove_empty(folder: Path) -> None:
    """Remove the empty folders under `folder`, and `folder` itself if it ends up empty."""
    for directory in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)) + [folder]:
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
