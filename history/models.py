from __future__ import annotations

from django.db import models


class LiveVH(models.Model):
    """Recent viewing history, one row per (profile, movie): the SQL store's table.

    Written only through `history.sql.SqlStore`, whose upsert keeps the newest state.
    """

    profile_id = models.CharField(max_length=64)
    movie_id = models.CharField(max_length=64)
    position_ms = models.BigIntegerField()
    client_request_time = models.BigIntegerField(help_text="Epoch milliseconds of the winner.")
    device_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=16)
    duration_ms = models.BigIntegerField(null=True, blank=True)
    hidden_before = models.BigIntegerField(
        default=0, help_text="Hidden from Continue Watching while client_request_time ≤ this."
    )
    significant = models.BooleanField(
        default=False, help_text="A place worth keeping: only another such state replaces it."
    )
    forgotten_before = models.BigIntegerField(
        default=0, help_text="Hidden from history while client_request_time ≤ this."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "LiveVH row"
        constraints = [
            models.UniqueConstraint(fields=["profile_id", "movie_id"], name="livevh_profile_movie")
        ]
        indexes = [
            models.Index(fields=["profile_id", "-client_request_time"], name="livevh_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id}/{self.movie_id} @ {self.position_ms} ms"


class CompressedVH(models.Model):
    """One chunk of a profile's rolled-up history (history/codec.py). Readers use the version
    and chunk count named by CompressedVHMeta, so they never see half a rollup."""

    profile_id = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    chunk = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        verbose_name = "CompressedVH chunk"
        constraints = [
            models.UniqueConstraint(
                fields=["profile_id", "version", "chunk"], name="compressedvh_chunk"
            )
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} v{self.version} #{self.chunk}"


class CompressedVHMeta(models.Model):
    profile_id = models.CharField(max_length=64, unique=True)
    current_version = models.PositiveIntegerField()
    chunk_count = models.PositiveIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "CompressedVH version"

    def __str__(self) -> str:
        return f"{self.profile_id} v{self.current_version} ({self.chunk_count} chunks)"
