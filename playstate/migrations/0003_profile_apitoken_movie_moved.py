# Profile and ApiToken moved to `accounts`, Movie to `catalog`; their tables stay (see those
# apps' first migrations), so this only lets go of them in Django's state.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("playstate", "0002_ratelimit"),
        ("accounts", "0001_initial"),
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="ratelimit",
                    name="profile",
                    field=models.OneToOneField(blank=True, help_text="Empty: the default for every profile without its own row.", null=True, on_delete=django.db.models.deletion.CASCADE, related_name="rate_limit", to="accounts.profile"),
                ),
                migrations.DeleteModel(name="ApiToken"),
                migrations.DeleteModel(name="Profile"),
                migrations.DeleteModel(name="Movie"),
            ],
        ),
    ]
