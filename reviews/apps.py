from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviews, audits and governance"

    def ready(self) -> None:
        from generation.signals import samples_arrived
        from reviews.receivers import similarity_on_samples_arrived

        samples_arrived.connect(similarity_on_samples_arrived, dispatch_uid="reviews.similarity_on_samples_arrived")
