from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import ApiToken, Profile
from core.payloads import id_validator


class Command(BaseCommand):
    help = "Create the account if missing, attach profiles, and print a new Bearer token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--profile", action="append", default=[], dest="profiles")

    @transaction.atomic
    def handle(self, *args: Any, username: str, profiles: list[str], **options: Any) -> None:
        for profile_id in profiles:
            try:
                id_validator(profile_id)
            except ValidationError as error:
                raise CommandError(f"profile {profile_id!r}: {error.messages[0]}") from error
        account, _ = get_user_model().objects.get_or_create(username=username)
        for profile_id in profiles:
            profile, _ = Profile.objects.get_or_create(
                profile_id=profile_id, defaults={"account": account}
            )
            if profile.account_id != account.pk:
                raise CommandError(f"profile {profile_id!r} belongs to another account")
        self.stdout.write(ApiToken.issue(account))
