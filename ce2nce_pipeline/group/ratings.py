"""Visual QC ratings from the participant reports, and the images rated bad left out.

Each ``sub-X.html`` lets a reader rate every image (good, uncertain, bad, with a comment) and
downloads the ratings as ``sub-X_qc-ratings.tsv`` (docs/reports.md#qc-ratings)::

    participant_id  image                                        rating  comment
    sub-01          sub-01_ses-M000_space-..._desc-Crop_T1w.nii.gz  bad     motion

``ce2nce BIDS OUT group --qc-ratings FILE [FILE ...]`` reads them (:func:`read_ratings`) and
leaves the images rated bad out of every statistic (:func:`exclude_rated_bad`), as if the
participant level had not written them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InvalidInputError
from .collect import ImageOutputs, SessionOutputs

#: The ratings a report offers, and ``n/a`` for an image left unrated.
RATINGS: tuple[str, ...] = ("good", "uncertain", "bad", "n/a")
#: Columns of a ratings file, in the order the reports write them.
RATING_COLUMNS: tuple[str, ...] = ("participant_id", "image", "rating", "comment")
_REQUIRED = ("image", "rating")


@dataclass(frozen=True)
class Rating:
    """One image's rating and where it was read (``file:line``, for messages)."""

    image: str
    rating: str
    comment: str
    where: str


def _read_one(path: Path) -> list[Rating]:
    where = f"--qc-ratings {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"{where}: cannot be read ({error})") from None
    lines = text.splitlines()
    if not lines:
        raise InvalidInputError(
            f"{where}: empty; expected a header line {chr(9).join(RATING_COLUMNS)!r} "
            "as the reports' 'Download ratings' writes it"
        )
    header = lines[0].split("\t")
    absent = [column for column in _REQUIRED if column not in header]
    if absent:
        raise InvalidInputError(
            f"{where}: no column {', '.join(absent)} in the header line (tab-separated "
            f"{', '.join(RATING_COLUMNS)}, as the reports' 'Download ratings' writes it)"
        )
    ratings = []
    reader = csv.DictReader(lines[1:], fieldnames=header, delimiter="\t", quoting=csv.QUOTE_NONE)
    for number, row in enumerate(reader, start=2):
        if None in row or any(value is None for value in row.values()):
            raise InvalidInputError(
                f"{where} line {number}: {len(lines[number - 1].split(chr(9)))} fields, the "
                f"header has {len(header)}: separate the columns by one tab each"
            )
        image, rating = row["image"].strip(), row["rating"].strip()
        if not (image.startswith("sub-") and image.endswith((".nii.gz", ".nii"))):
            raise InvalidInputError(
                f"{where} line {number}: image {image!r} is not the file name of an image of "
                "the derivatives (sub-..._T1w.nii.gz)"
            )
        if rating not in RATINGS:
            raise InvalidInputError(
                f"{where} line {number}: rating {rating!r} is not one of {', '.join(RATINGS)}"
            )
        comment = (row.get("comment") or "").strip()
        ratings.append(Rating(image, rating, comment, f"{path}:{number}"))
    return ratings


def read_ratings(paths: Sequence[Path]) -> dict[str, Rating]:
    """The ratings of one or more files, by image file name.

    An image rated in several files must have the same rating in each (a report re-rated and
    downloaded again is a new file: give only the newer one).

    Raises
    ------
    InvalidInputError
        One line naming the file (and line) and the fix: a missing or empty file, a missing
        column, a row with the wrong number of fields, an unknown rating, a name that is not
        an image of the derivatives, or an image with two different ratings.
    """
    found: dict[str, Rating] = {}
    for path in paths:
        for rating in _read_one(Path(path)):
            earlier = found.get(rating.image)
            if earlier is not None and earlier.rating != rating.rating:
                raise InvalidInputError(
                    f"--qc-ratings: {rating.image} is rated {earlier.rating!r} at "
                    f"{earlier.where} and {rating.rating!r} at {rating.where}: give one rating"
                )
            found[rating.image] = rating
    return found


def exclude_rated_bad(
    sessions: Iterable[SessionOutputs], ratings: dict[str, Rating]
) -> tuple[list[SessionOutputs], list[str]]:
    """The sessions without the images rated bad, and the names of the images left out.

    A real T1w-nce rated bad leaves its session without one (its volumes then come from the
    synthetic T1w-nce, and it has no ce/nce pair to validate); a T1w-ce or a synthetic image
    rated bad leaves the session's other images in. The images left out are kept in
    ``SessionOutputs.rated_bad``, so that no statistic reports them as missing.
    """
    bad = {name for name, rating in ratings.items() if rating.rating == "bad"}

    def is_bad(image: ImageOutputs | None) -> bool:
        return image is not None and image.image is not None and image.image.name in bad

    kept, excluded = [], []
    for session in sessions:
        images = [session.nce, *session.ce, *session.synthetic.values()]
        rated_bad = tuple(image for image in images if is_bad(image))
        excluded += [image.image.name for image in rated_bad]
        kept.append(
            replace(
                session,
                nce=None if is_bad(session.nce) else session.nce,
                ce=tuple(image for image in session.ce if not is_bad(image)),
                synthetic={s: i for s, i in session.synthetic.items() if not is_bad(i)},
                rated_bad=session.rated_bad + rated_bad,
            )
        )
    return kept, excluded


def exclusion_line(ratings: dict[str, Rating], excluded: Sequence[str]) -> str:
    """The one line the group level prints about the ratings it applied."""
    bad = sum(rating.rating == "bad" for rating in ratings.values())
    line = (
        f"QC ratings: {len(excluded)} image(s) rated bad excluded from the statistics "
        f"({len(ratings)} image(s) rated, {bad} bad)"
    )
    if len(excluded) < bad:
        line += f"; {bad - len(excluded)} rated bad not among the images of this run"
    return line
