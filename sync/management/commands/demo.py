from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.models import ApiToken, Profile

CATALOG = Path(__file__).resolve().parents[2] / "demo_catalog.csv"
ACCOUNT, PROFILE, FILM = "demo", "demo", "demo.night-train"


class Command(BaseCommand):
    help = (
        "Make the demo ready: a small catalog, an account 'demo' with a profile 'demo', and a"
        " fresh token for it (the account's older tokens are revoked); print the links."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="where it is served")

    def handle(self, *args: Any, url: str, **options: Any) -> None:
        call_command("import_catalog", str(CATALOG), stdout=io.StringIO())
        with transaction.atomic():
            account, _ = get_user_model().objects.get_or_create(username=ACCOUNT)
            Profile.objects.get_or_create(profile_id=PROFILE, defaults={"account": account})
            ApiToken.objects.filter(account=account).delete()
            token = ApiToken.issue(account)
        url = url.rstrip("/")

        def demo(page: str, **params: str) -> str:
            query = urlencode({"profile_id": PROFILE, "device_id": page, **params, "token": token})
            return f"{url}/demo/{page}?{query}"

        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"Playstate is ready at {url}",
                    "",
                    f"  TV      {demo('tv')}",
                    f"  Phone   {demo('phone', movie_id=FILM)}",
                    "          (open both: play and pause on the phone, watch the TV)",
                    f"  API     {url}/api/docs/",
                    f"  Admin   {url}/admin/"
                    "  (a login: .venv/bin/python manage.py createsuperuser)",
                    f"  Token   {token}  (profile '{PROFILE}')",
                    "",
                    "Ctrl-C stops everything.",
                    "",
                ]
            )
        )
