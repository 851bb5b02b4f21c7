# Profile and ApiToken moved here from `playstate`: their tables stay where they are
# (db_table), so this only takes them over in Django's state, and moves their content types
# (and with them the admin log and permissions) to this app.

import re

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = ["profile", "apitoken"]


def move_content_types(apps, schema_editor, source="playstate", target="accounts"):
    content_types = apps.get_model("contenttypes", "ContentType").objects
    for model in MOVED:
        if not content_types.filter(app_label=target, model=model).exists():
            content_types.filter(app_label=source, model=model).update(app_label=target)


def move_content_types_back(apps, schema_editor):
    move_content_types(apps, schema_editor, source="accounts", target="playstate")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("playstate", "0002_ratelimit"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ApiToken",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("key_hash", models.CharField(editable=False, max_length=64, unique=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("account", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="api_tokens", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "verbose_name": "API token",
                        "db_table": "playstate_apitoken",
                    },
                ),
                migrations.CreateModel(
                    name="Profile",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("profile_id", models.CharField(max_length=64, unique=True, validators=[django.core.validators.RegexValidator(re.compile("\\A[A-Za-z0-9_.:-]{1,64}\\Z"), "1-64 characters of letters, digits, '_', '.', ':', '-'.")])),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("account", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="profiles", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "playstate_profile",
                        "ordering": ["profile_id"],
                    },
                ),
            ],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
