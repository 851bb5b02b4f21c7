from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.payloads import id_validator


class Movie(models.Model):
    """A title: a film, or an episode of a series (season 0 holds a series' specials)."""

    movie_id = models.CharField(max_length=64, unique=True, validators=[id_validator])
    title = models.CharField(max_length=300)
    duration_ms = models.BigIntegerField(validators=[MinValueValidator(1)])
    credits_ms = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Where the end credits start: the title counts as watched from there.",
    )
    # NULL, not "", for a film: the episode constraints below read it.
    series_id = models.CharField(  # noqa: DJ001
        max_length=64, null=True, blank=True, validators=[id_validator], db_index=True
    )
    season = models.PositiveIntegerField(null=True, blank=True, help_text="0: specials.")
    episode = models.PositiveIntegerField(null=True, blank=True)
    available = models.BooleanField(
        default=True,
        help_text="In the library. A title taken out keeps its place in its series (Next Up "
        "goes on after it) but is not offered.",
    )
    # Unknown (empty) for titles imported before the service kept it.
    added_at = models.DateTimeField(null=True, blank=True, default=timezone.now)

    class Meta:
        # The table the model had before it moved here from `playstate`.
        db_table = "playstate_movie"
        ordering = ["movie_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["series_id", "season", "episode"],
                condition=Q(series_id__isnull=False),
                name="movie_one_title_per_episode",
            ),
            models.CheckConstraint(
                condition=Q(series_id__isnull=True, season__isnull=True, episode__isnull=True)
                | Q(series_id__isnull=False, season__isnull=False, episode__isnull=False),
                name="movie_episode_coordinates_together",
            ),
        ]

    def __str__(self) -> str:
        if self.series_id:
            return f"{self.title} (S{self.season:02d}E{self.episode:02d} of {self.series_id})"
        return f"{self.title} ({self.movie_id})"

    def clean(self) -> None:
        coordinates = (self.series_id, self.season, self.episode)
        if any(value is not None for value in coordinates) and None in coordinates:
            raise ValidationError("An episode needs series_id, season and episode together.")
        # (a duration missing or not a number is the field's own error, reported beside this)
        credits, duration = self.credits_ms, self.duration_ms
        if credits is not None and duration is not None and credits > duration:
            raise ValidationError({"credits_ms": "Must not be after the end of the title."})
