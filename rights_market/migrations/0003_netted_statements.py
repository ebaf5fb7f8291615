"""Statements per brand pair, netted. Existing statements (one direction each) become their pair's statement;
a pair that had a statement in each direction for one month cannot be merged here and stops the migration
(settle by hand first)."""
import django.db.models.deletion
from django.db import migrations, models
from django.db.models import F, Q


def pairs_fill(apps, schema_editor):
    Statement = apps.get_model("rights_market", "Statement")
    for statement in Statement.objects.all():
        low, high = sorted((statement.payer_id, statement.payee_id))
        statement.brand_low_id, statement.brand_high_id = low, high
        if statement.payer_id == low:
            statement.low_owes_fen = statement.total_fen
        else:
            statement.high_owes_fen = statement.total_fen
        statement.save(update_fields=["brand_low", "brand_high", "low_owes_fen", "high_owes_fen"])


class Migration(migrations.Migration):

    dependencies = [
        ("rights_market", "0002_tier_identity"),
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="statement", name="market_statement_once"),
        migrations.AddField(model_name="statement", name="brand_low", field=models.ForeignKey(
            null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="tenants.brand")),
        migrations.AddField(model_name="statement", name="brand_high", field=models.ForeignKey(
            null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="tenants.brand")),
        migrations.AddField(model_name="statement", name="low_owes_fen", field=models.BigIntegerField(
            default=0, help_text="Lines where brand_low is the payer.")),
        migrations.AddField(model_name="statement", name="high_owes_fen", field=models.BigIntegerField(
            default=0, help_text="Lines where brand_high is the payer.")),
        migrations.RunPython(pairs_fill, migrations.RunPython.noop),
        migrations.AlterField(model_name="statement", name="brand_low", field=models.ForeignKey(
            on_delete=django.db.models.deletion.PROTECT, related_name="+", to="tenants.brand")),
        migrations.AlterField(model_name="statement", name="brand_high", field=models.ForeignKey(
            on_delete=django.db.models.deletion.PROTECT, related_name="+", to="tenants.brand")),
        migrations.AlterField(model_name="statement", name="payer", field=models.ForeignKey(
            help_text="Who pays the net amount (brand_low when it is 0).",
            on_delete=django.db.models.deletion.PROTECT, related_name="+", to="tenants.brand")),
        migrations.AlterField(model_name="statement", name="total_fen", field=models.BigIntegerField(
            default=0, help_text="The net payable amount.")),
        migrations.AlterField(model_name="clearingline", name="month", field=models.DateField(
            help_text="Month the exchange was fulfilled in; a line closed late is on a later month's statement.")),
        migrations.AddConstraint(model_name="statement", constraint=models.UniqueConstraint(
            fields=("brand_low", "brand_high", "month"), name="market_statement_pair_once")),
        migrations.AddConstraint(model_name="statement", constraint=models.CheckConstraint(
            condition=Q(brand_low__lt=F("brand_high")), name="market_statement_pair_ordered")),
        migrations.AddConstraint(model_name="statement", constraint=models.CheckConstraint(
            condition=(Q(payer=F("brand_low"), payee=F("brand_high"),
                         total_fen=F("low_owes_fen") - F("high_owes_fen"), total_fen__gte=0)
                       | Q(payer=F("brand_high"), payee=F("brand_low"),
                           total_fen=F("high_owes_fen") - F("low_owes_fen"), total_fen__gt=0)),
            name="market_statement_netted")),
        migrations.AddIndex(model_name="clearingline", index=models.Index(
            condition=Q(statement=None), fields=["month"], name="market_line_unsettled_idx")),
    ]
