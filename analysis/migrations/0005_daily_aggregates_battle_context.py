"""Per-day sums (PairCount, EnergyStat, GeaCount gain ``day``), one BattleContext row per counted
battle, markdown counts of imported battles.

The sums stored so far have no day and there are no context rows yet, so where anything was counted
before (aggregate rows or imported battles exist) every aggregate is recomputed from the votes and
imported battles, by the leaderboard's own rebuild (``aggregates_rebuild``), at the end of this
migration. It is the current code, run against the schema of this migration: should a later
migration change these tables, an upgrade across both runs this step before that change, so such a
migration must make this step a no-op (or move the rebuild after itself). A new database has
nothing to rebuild and skips it.
"""

import django.db.models.deletion
from django.db import migrations, models


def aggregates_recompute(apps, schema_editor):
    tables = ("PairCount", "EloRating", "EnergyStat", "GeaCount", "ImportedBattle")
    if not any(apps.get_model("analysis", name).objects.exists() for name in tables):
        return
    from analysis.leaderboard.services.rebuild import aggregates_rebuild

    aggregates_rebuild(refit=False)  # no Celery task from a migration; the next page view or vote refits


def aggregates_forget(apps, schema_editor):
    """Going back: sums of several days would break the old one-row-per-key constraints; rebuild after."""
    for name in ("PairCount", "EloRating", "EnergyStat", "GeaCount"):
        apps.get_model("analysis", name).objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ('analysis', '0004_diagnosticsrun_job_fields'),
        ('arena', '0006_response_markdown_counts'),
    ]

    operations = [
        migrations.CreateModel(
            name='BattleContext',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(default='chat', max_length=20)),
                ('tstamp', models.DateTimeField(db_index=True)),
                ('winner', models.CharField(choices=[('a', 'A is better'), ('b', 'B is better'), ('tie', 'Tie'), ('bothbad', 'Both are bad')], max_length=10)),
                ('winner_after', models.CharField(blank=True, choices=[('a', 'A is better'), ('b', 'B is better'), ('tie', 'Tie'), ('bothbad', 'Both are bad')], max_length=10)),
                ('tokens_a', models.PositiveIntegerField(blank=True, null=True)),
                ('tokens_b', models.PositiveIntegerField(blank=True, null=True)),
                ('headers_a', models.PositiveIntegerField(blank=True, null=True)),
                ('headers_b', models.PositiveIntegerField(blank=True, null=True)),
                ('lists_a', models.PositiveIntegerField(blank=True, null=True)),
                ('lists_b', models.PositiveIntegerField(blank=True, null=True)),
                ('bold_a', models.PositiveIntegerField(blank=True, null=True)),
                ('bold_b', models.PositiveIntegerField(blank=True, null=True)),
                ('energy_a_j', models.FloatField(blank=True, null=True)),
                ('energy_b_j', models.FloatField(blank=True, null=True)),
            ],
        ),
        migrations.RemoveConstraint(
            model_name='geacount',
            name='one_gea_count_per_pair',
        ),
        migrations.RemoveConstraint(
            model_name='paircount',
            name='one_pair_count_per_key',
        ),
        migrations.AddField(
            model_name='energystat',
            name='day',
            field=models.DateField(db_index=True, default='1970-01-01'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='geacount',
            name='day',
            field=models.DateField(db_index=True, default='1970-01-01'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='importedbattle',
            name='bold_a',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='importedbattle',
            name='bold_b',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='importedbattle',
            name='headers_a',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='importedbattle',
            name='headers_b',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='importedbattle',
            name='lists_a',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='importedbattle',
            name='lists_b',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='paircount',
            name='day',
            field=models.DateField(db_index=True, default='1970-01-01'),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name='energystat',
            name='competitor',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='analysis.competitor'),
        ),
        migrations.AddConstraint(
            model_name='energystat',
            constraint=models.UniqueConstraint(fields=('competitor', 'day'), name='one_energy_stat_per_day'),
        ),
        migrations.AddConstraint(
            model_name='geacount',
            constraint=models.UniqueConstraint(fields=('competitor_lo', 'competitor_hi', 'day'), name='one_gea_count_per_day'),
        ),
        migrations.AddConstraint(
            model_name='paircount',
            constraint=models.UniqueConstraint(fields=('ladder', 'competitor_a', 'competitor_b', 'outcome', 'day'), name='one_pair_count_per_day'),
        ),
        migrations.AddField(
            model_name='battlecontext',
            name='battle',
            field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='arena.battle'),
        ),
        migrations.AddField(
            model_name='battlecontext',
            name='competitor_a',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='analysis.competitor'),
        ),
        migrations.AddField(
            model_name='battlecontext',
            name='competitor_b',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='analysis.competitor'),
        ),
        migrations.RunPython(aggregates_recompute, aggregates_forget),
    ]
