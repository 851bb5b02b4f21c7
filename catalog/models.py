from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models

from core.payloads import id_validator


class Movie(models.Model):
    movie_id = models.CharField(max_length=64, unique=True, validators=[id_validator])
    title = models.CharField(max_length=300)
    duration_ms = models.BigIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        # The table the model had before it moved here from `playstate`.
        db_table = "playstate_movie"
        ordering = ["movie_id"]

    def __str__(self) -> str:
        return f"{self.title} ({self.movie_id})"
