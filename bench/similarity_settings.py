"""The similarity settings page on a large project: the threshold histogram, the
pairs either side of it and the group preview, read from stored neighbour lists.

The goal: the htmx preview a lead sees while typing a threshold answers in under a
second on a project of 1M samples, and the whole page too.

What it measures, on its own database (synthreview_bench_settings, created and
dropped here): a project of N samples, each with a similarity row of 10 neighbours,
loaded by SQL (generate_series), whose nearest-neighbour similarities spread as a
real build's do: most between 0.55 and 0.95, 3% above 0.95. Then through Django's
test client, as a logged-in lead, the median of 3 of:
(a) the full settings page (form, histogram, pairs, estimates at the saved 0.90);
(b) the htmx preview at 0.80, where more samples have a neighbour than the preview
    reads, so it says so, and at 0.97, where it counts the groups.
The ratio printed is (a) at N over (a) at N/10: near 1 means the page does not
grow with the project (its reads are an aggregate over an index and LIMITed reads).

    .venv/bin/python bench/similarity_settings.py [--quick]

--quick: N = 100,000 (under a minute); the default N = 1,000,000 (a few minutes of
loading). The last line is `RESULT settings_page_ms=T goal<1000 ok|MISS`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import TYPE_CHECKING

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import SERVER_URL, database_drop, database_recreate, unique_database_name  # noqa: E402

if TYPE_CHECKING:  # Django is configured inside main(), before its modules are imported
    from django.test import Client

BENCH_DATABASE = unique_database_name("synthreview_bench_settings")
GOAL_MS = 1000.0


def _load(project_id: int, first: int, count: int) -> None:
    """count samples and their similarity rows; a sample's neighbours are the next ten ids."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO generation_sample (project_id, origin, input, output, label, metadata, content_hash, split, "
            "status, generation_depth, revision, created_at, updated_at) "
            "SELECT %s, 'real', 'question ' || n, 'answer ' || n, NULL, '{}', md5(n::text) || md5((n + 1)::text), "
            "'', 'pending', 0, 0, now(), now() FROM generate_series(%s, %s) AS n",
            [project_id, first, first + count - 1],
        )
        entries = ", ".join(f"jsonb_build_array(id + {j}, top - {0.02 * (j - 1):.2f})" for j in range(1, 11))
        cursor.execute(
            "INSERT INTO reviews_samplesimilarity (sample_id, project_id, neighbours, top_similarity, novelty, "
            "updated_at) "
            f"SELECT id, %s, jsonb_build_array({entries}), top, 0.3, now() FROM ("
            "  SELECT id, round(least(0.999, 0.55 + 0.40 * random()"
            "    + CASE WHEN random() < 0.03 THEN 0.06 ELSE 0 END)::numeric, 4) AS top"
            "  FROM generation_sample WHERE project_id = %s) AS s",
            [project_id, project_id],
        )
        cursor.execute("VACUUM ANALYZE generation_sample")
        cursor.execute("VACUUM ANALYZE reviews_samplesimilarity")


def _median_ms(client: Client, url: str, params: dict, headers: dict | None = None) -> float:
    times = []
    for _ in range(3):
        began = time.perf_counter()
        response = client.get(url, params, headers=headers or {})
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.status_code
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    total = 100_000 if args.quick else 1_000_000
    database_recreate(BENCH_DATABASE)
    os.environ["DATABASE_URL"] = f"{SERVER_URL}/{BENCH_DATABASE}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "synthreview.settings"
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    os.environ.setdefault("DATA_DIR", "/tmp/synthreview_bench_settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from synthreview.projects.models import Membership, Project

    try:
        setup_test_environment()
        settings.ALLOWED_HOSTS = ["testserver"]
        call_command("migrate", verbosity=0)
        lead = get_user_model().objects.create_user(username="bench-lead", password="x")
        results = {}
        for size in (total // 10, total):
            project = Project.objects.create(slug=f"bench-{size}", name=f"bench {size}")
            Membership.objects.create(user=lead, project=project, role="lead")
            began = time.perf_counter()
            _load(project.pk, 1 if size != total else total // 10 + 1, size)
            print(f"loaded {size:,} samples with neighbour lists in {time.perf_counter() - began:.1f} s", flush=True)
            client = Client()
            client.force_login(lead)
            url = reverse("similarity_settings", args=[project.slug])
            client.get(url)  # warm caches, as a second visit would find them
            page = _median_ms(client, url, {})
            wide = _median_ms(client, url, {"near_duplicate_threshold": "0.80"}, {"HX-Request": "true"})
            narrow = _median_ms(client, url, {"near_duplicate_threshold": "0.97"}, {"HX-Request": "true"})
            results[size] = page
            print(
                f"{size:>9,} samples: page {page:.0f} ms · preview at 0.80 {wide:.0f} ms · "
                f"preview at 0.97 {narrow:.0f} ms",
                flush=True,
            )
        connection.close()
        ratio = results[total] / results[total // 10]
        print(f"ratio page({total:,}) / page({total // 10:,}) = {ratio:.2f}")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        ok = results[total] < GOAL_MS
        print(f"RESULT settings_page_ms={results[total]:.0f} goal<{GOAL_MS:.0f} {'ok' if ok else 'MISS'}")
    finally:
        database_drop(BENCH_DATABASE)


if __name__ == "__main__":
    main()
