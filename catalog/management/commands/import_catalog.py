from __future__ import annotations

import csv
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction
from tqdm import tqdm

from catalog.models import Movie

REQUIRED = ("movie_id", "title", "duration_ms")
# Old files without these still load; a title's series fields change only when its file has them.
OPTIONAL = ("series_id", "season", "episode", "credits_ms")
NUMBERS = {"duration_ms", "season", "episode", "credits_ms"}
BATCH = 1000


def _movie(line: int, row: dict[str, str]) -> Movie:
    values: dict[str, Any] = {}
    try:
        for name, raw in row.items():
            text = (raw or "").strip()
            if name in NUMBERS:
                values[name] = int(text) if text else None
            else:
                values[name] = text or None
        movie = Movie(**values, available=True)
        movie.full_clean(validate_unique=False, validate_constraints=False)
    except (ValueError, ValidationError) as error:
        raise CommandError(f"line {line}: {error}") from error
    return movie


def _batches(reader: csv.DictReader[str]) -> Iterator[list[Movie]]:
    rows = (_movie(line, row) for line, row in enumerate(reader, start=2))
    while batch := list(itertools.islice(rows, BATCH)):
        yield batch


class Command(BaseCommand):
    help = (
        "Load (upsert) titles from a CSV file with header movie_id,title,duration_ms and,"
        " optionally, series_id,season,episode,credits_ms (season 0: specials). A title"
        " imported again is back in the library. The whole file loads, or none of it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, file: Path, **options: Any) -> None:
        try:
            handle = file.open(newline="", encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror}") from None
        with handle:
            reader = csv.DictReader(handle)
            columns = tuple(reader.fieldnames or ())
            unknown = set(columns) - {*REQUIRED, *OPTIONAL}
            if not set(REQUIRED) <= set(columns) or unknown or len(set(columns)) != len(columns):
                raise CommandError(
                    f"expected the header {','.join(REQUIRED)}, optionally followed by any of"
                    f" {','.join(OPTIONAL)}; got {','.join(columns)}"
                )
            updated = [c for c in columns if c != "movie_id"] + ["available"]
            total = 0
            # A bar on a terminal (stderr), nothing otherwise; the file streams in batches.
            progress = tqdm(unit=" titles", unit_scale=True, disable=None, file=sys.stderr)
            try:
                with progress, transaction.atomic():
                    for batch in _batches(reader):
                        Movie.objects.bulk_create(
                            batch,
                            update_conflicts=True,
                            unique_fields=["movie_id"],
                            update_fields=updated,
                        )
                        total += len(batch)
                        progress.update(len(batch))
            except IntegrityError as error:
                raise CommandError(f"the file breaks the catalog's rules: {error}") from None
        self.stdout.write(f"imported {total} titles")
