# Movie moved here from `playstate`: its table stays where it is (db_table), so this only
# takes it over in Django's state, and moves its content type to this app.

import re

import django.core.validators
from django.db import migrations, models


def move_content_type(apps, schema_editor, source="playstate", target="catalog"):
    content_types = apps.get_model("contenttypes", "ContentType").objects
    if not content_types.filter(app_label=target, model="movie").exists():
        content_types.filter(app_label=source, model="movie").update(app_label=target)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, source="catalog", target="playstate")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("playstate", "0002_ratelimit"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Movie",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("movie_id", models.CharField(max_length=64, unique=True, validators=[django.core.validators.RegexValidator(re.compile("\\A[A-Za-z0-9_.:-]{1,64}\\Z"), "1-64 characters of letters, digits, '_', '.', ':', '-'.")])),
                        ("title", models.CharField(max_length=300)),
                        ("duration_ms", models.BigIntegerField(validators=[django.core.validators.MinValueValidator(1)])),
                    ],
                    options={
                        "db_table": "playstate_movie",
                        "ordering": ["movie_id"],
                    },
                ),
            ],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
