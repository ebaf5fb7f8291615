"""Import chunks are stored uncompressed (STORAGE EXTERNAL): out of line as before, without pglz, which cost the
upload of a 12 MB file (200k members) about 0.13 s of PostgreSQL CPU and its reading back half as much again, for a
third of the space (issue 17). Only rows written from now on are affected; nothing is rewritten."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0012_member_name_prefix_index"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE members_memberimportchunk ALTER COLUMN data SET STORAGE EXTERNAL",
            "ALTER TABLE members_memberimportchunk ALTER COLUMN data SET STORAGE EXTENDED",
        ),
    ]
