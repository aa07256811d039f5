from django.apps import AppConfig
from django.core import checks


class ProjectsConfig(AppConfig):
    name = "synthreview.projects"
    label = "projects"
    verbose_name = "Projects, members and the audit log"

    def ready(self) -> None:
        from synthreview.projects.checks import append_only_tables_exposed

        checks.register(append_only_tables_exposed, checks.Tags.database)
