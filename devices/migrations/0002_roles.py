"""Create the Admin, Operator and Viewer groups.

Their permissions are (re)assigned by acuvim_console.operators.roles.sync_roles after every migrate, when Django has
created the permissions of every model; a migration cannot see permissions of models added later.
"""

from django.db import migrations

ROLES = ("Admin", "Operator", "Viewer")


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("devices", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
