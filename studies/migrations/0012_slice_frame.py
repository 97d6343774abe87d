# Issue #19 point 3: a slice row per frame of an enhanced (multi-frame) MR file.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("studies", "0011_dicom_nodes"),
    ]

    operations = [
        migrations.AddField(
            model_name="instance",
            name="frame_number",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Frame of a multi-frame file (1-based); empty for a single-frame file",
                null=True,
            ),
        ),
    ]
