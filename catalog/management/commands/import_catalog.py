from __future__ import annotations

import csv
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction
from tqdm import tqdm

from catalog.models import Movie

REQUIRED = ("movie_id", "title", "duration_ms")
# Old files without these still load; a title's series fields change only when its file has them.
OPTIONAL = ("series_id", "season", "episode", "credits_ms")
# The largest each column holds on every database (SQLite would take more, PostgreSQL not).
NUMBERS = {"duration_ms": 2**63 - 1, "season": 2**31 - 1, "episode": 2**31 - 1}
NUMBERS["credits_ms"] = NUMBERS["duration_ms"]
BATCH = 1000


def _movie(line: int, row: dict[str | None, str | list[str]]) -> Movie:
    if None in row:  # csv.DictReader puts the fields past the header's under None
        raise CommandError(f"line {line}: more fields than the header names")
    values: dict[str, Any] = {}
    for name, raw in row.items():
        text = str(raw or "").strip()
        if "\x00" in text:  # (PostgreSQL cannot store it)
            raise CommandError(f"line {line}: {name} has a NUL character")
        if name in NUMBERS:
            try:
                number = int(text) if text else None
            except ValueError:
                message = f"line {line}: {name} must be a whole number, not {text!r}"
                raise CommandError(message) from None
            if number is not None and number > NUMBERS[name]:
                raise CommandError(f"line {line}: {name} must be at most {NUMBERS[name]}")
            values[str(name)] = number
        else:
            values[str(name)] = text or None
    movie = Movie(**values, available=True)
    try:
        movie.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        raise CommandError(f"line {line}: {error}") from error
    return movie


def _rows(reader: csv.DictReader[str]) -> Iterator[Movie]:
    """Each row's title, once (the same movie_id twice in one file is an error: which one
    was meant?); lines counted as in the file, quoted line breaks included."""
    seen: dict[str, int] = {}
    for row in reader:
        movie = _movie(reader.line_num, row)
        if (first := seen.setdefault(movie.movie_id, reader.line_num)) != reader.line_num:
            raise CommandError(f"line {reader.line_num}: {movie.movie_id} again (line {first})")
        yield movie


def _batches(reader: csv.DictReader[str]) -> Iterator[list[Movie]]:
    rows = _rows(reader)
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
            # utf-8-sig: a byte-order mark, as spreadsheets (and the history export) write
            # one, is not part of the first column's name.
            handle = file.open(newline="", encoding="utf-8-sig")
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror}") from None
        try:
            total = self._load(handle)
        except UnicodeDecodeError as error:
            raise CommandError(f"{file} is not UTF-8 text ({error.reason})") from None
        except csv.Error as error:
            raise CommandError(f"{file} is not a CSV file this reads: {error}") from None
        finally:
            handle.close()
        self.stdout.write(f"imported {total} titles")

    def _load(self, handle: TextIO) -> int:
        """The whole file in one transaction; how many titles it held."""
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
        return total
