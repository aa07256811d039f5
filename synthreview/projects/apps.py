from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "synthreview.projects"
    label = "projects"
    verbose_name = "Projects, members and the audit log"
