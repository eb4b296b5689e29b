"""Markdown counts of each answer (style control's features), filled for the chat answers already stored."""

from django.db import migrations, models

from arena.style import markdown_counts  # plain Python: its counts are the ones new answers get


def counts_fill(apps, schema_editor):
    Response = apps.get_model("arena", "Response")
    finished = Response.objects.filter(battle__kind="chat", status__in=["done", "timeout"])
    batch = []
    for response in finished.only("id", "text").iterator(chunk_size=2000):
        response.header_count, response.list_count, response.bold_count = markdown_counts(response.text)
        batch.append(response)
        if len(batch) >= 2000:
            Response.objects.bulk_update(batch, ["header_count", "list_count", "bold_count"])
            batch = []
    Response.objects.bulk_update(batch, ["header_count", "list_count", "bold_count"])


class Migration(migrations.Migration):

    dependencies = [
        ('arena', '0005_job_fields'),
    ]

    operations = [
        migrations.AddField(
            model_name='response',
            name='bold_count',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='response',
            name='header_count',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='response',
            name='list_count',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(counts_fill, migrations.RunPython.noop),
    ]
