"""Cassandra tables (django-cassandra-engine / cqlengine models). Created with
`python manage.py sync_cassandra` (or `migrate --database cassandra`), never by Django's
migrations: this app has none (settings.MIGRATION_MODULES)."""

from __future__ import annotations

from cassandra.cqlengine import columns
from django_cassandra_engine.models import DjangoCassandraModel


class LiveVHRow(DjangoCassandraModel):  # type: ignore[misc]
    """The Cassandra store's recent history: one partition per profile, a row per title.

    Written only through `history.cql.store.CassandraStore`, with each heartbeat's
    client_request_time as the cells' write timestamp, so Cassandra itself keeps the newest.
    """

    __table_name__ = "live_vh"

    profile_id = columns.Text(partition_key=True)
    movie_id = columns.Text(primary_key=True)  # clustering column
    # The place, for operators: written with `state` only.
    position_ms = columns.BigInt()
    client_request_time = columns.BigInt()
    # The newest state that holds the place, and the newest other one, each as one cell (see
    # history/cql/store.py: encode_state), so a tie on the write timestamp cannot mix the
    # fields of two heartbeats.
    state = columns.Blob()
    low_state = columns.Blob()
    hidden_before = columns.BigInt()
    forgotten_before = columns.BigInt()

    class Meta:
        get_pk_field = "profile_id"


class CompressedVHRow(DjangoCassandraModel):  # type: ignore[misc]
    """Older history rolled into one compressed blob per profile, split into chunks; the
    static columns name the complete version readers use (history/compaction.py)."""

    __table_name__ = "compressed_vh"

    profile_id = columns.Text(partition_key=True)
    version = columns.Integer(primary_key=True)  # clustering
    chunk = columns.Integer(primary_key=True)  # clustering
    data = columns.Blob()
    current_version = columns.Integer(static=True)
    chunk_count = columns.Integer(static=True)

    class Meta:
        get_pk_field = "profile_id"
