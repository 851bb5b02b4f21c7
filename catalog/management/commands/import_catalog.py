from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from catalog.models import Movie

HEADER = ["movie_id", "title", "duration_ms"]


def _row(line: int, row: dict[str, str]) -> Movie:
    movie = Movie(movie_id=row["movie_id"], title=row["title"])
    try:
        movie.duration_ms = int(row["duration_ms"])
        movie.full_clean(validate_unique=False)
    except (ValueError, ValidationError) as error:
        raise CommandError(f"line {line}: {error}") from error
    return movie


class Command(BaseCommand):
    help = "Load (upsert) titles from a CSV file with header movie_id,title,duration_ms."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, file: Path, **options: Any) -> None:
        with file.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames != HEADER:
                raise CommandError(f"expected the header {','.join(HEADER)}")
            movies = [_row(line, row) for line, row in enumerate(reader, start=2)]
        with transaction.atomic():
            Movie.objects.bulk_create(
                movies,
                batch_size=1000,
                update_conflicts=True,
                unique_fields=["movie_id"],
                update_fields=["title", "duration_ms"],
            )
        self.stdout.write(f"imported {len(movies)} titles")
