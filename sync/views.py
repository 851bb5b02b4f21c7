"""The demo pages: a TV showing Continue Watching live, and a phone playing a title.

They are plain pages that talk to the public API like any app would; the token comes from
the page's address (`?token=...&profile_id=...`), as a demo may."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def tv(request: HttpRequest) -> HttpResponse:
    return render(request, "sync/tv.html")


def phone(request: HttpRequest) -> HttpResponse:
    return render(request, "sync/phone.html")
