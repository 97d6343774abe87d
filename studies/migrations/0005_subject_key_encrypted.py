"""The subject-key mapping keeps the original Patient ID encrypted, and never the Patient Name.

Existing plain IDs are encrypted (with VBQ_MAPPING_KEY: a deployment with mappings and no key stops here with
what to do), then the plain ID and the name columns are dropped.
"""

from django.db import migrations, models


def encrypt_existing(apps, schema_editor):
    from studies.services.subject_keys import encrypt_patient_id

    SubjectKey = apps.get_model("studies", "SubjectKey")
    for key in SubjectKey.objects.all().only("pk", "original_patient_id").iterator():
        key.patient_id_encrypted = encrypt_patient_id(key.original_patient_id)
        key.original_patient_name = ""
        key.save(update_fields=["patient_id_encrypted", "original_patient_name"])


def decrypt_existing(apps, schema_editor):
    from studies.services.subject_keys import decrypt_patient_id

    SubjectKey = apps.get_model("studies", "SubjectKey")
    for key in SubjectKey.objects.all().iterator():
        key.original_patient_id = decrypt_patient_id(key.patient_id_encrypted)[:128]
        key.save(update_fields=["original_patient_id"])


class Migration(migrations.Migration):
    dependencies = [
        ("studies", "0004_study_setting_bounds"),
    ]

    operations = [
        migrations.AddField(
            model_name="subjectkey",
            name="patient_id_encrypted",
            field=models.TextField(default=""),
            preserve_default=False,
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.RemoveField(model_name="subjectkey", name="original_patient_name"),
        migrations.RemoveField(model_name="subjectkey", name="original_patient_id"),
    ]
