"""A web process's long-lived objects kept out of the cyclic garbage collector's full passes.

A full collection walks every object the collector tracks. A web process holds about 300,000
once it has loaded Django and its caches (the catalog loaded ahead alone is 100,000), and a
full pass stopped every request of the process for ≈ 140 ms, once per ≈ 20,000 heartbeats:
the tail of the latency. Frozen objects are still freed by reference counting when dropped
(the caches hold no cycles); only cyclic garbage frozen with them would stay, so the first
freeze follows a collection, before any request.
"""

from __future__ import annotations

import gc


def freeze_loaded(*, collect: bool = False) -> None:
    """Move every object alive now into the collector's permanent generation."""
    if collect:
        gc.collect()
    gc.freeze()
