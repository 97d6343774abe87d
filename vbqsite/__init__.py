"""VBQ Reader project package.

The Celery app (:mod:`vbqsite.celery`) is not created here at import, as Celery's Django guide does: importing
Celery costs every web process ~0.1 s of start-up (issue #20 point 4) and the web processes only need it when
they queue a job. Each ``tasks`` module imports :mod:`vbqsite.celery` itself, so the project app exists (and is
the current app their ``@shared_task``s bind to) before any task is used; ``celery -A vbqsite`` finds it as
``vbqsite.celery.app``. ``vbqsite.celery_app`` still answers, loading it on first use.
"""


def __getattr__(name: str):
    if name == "celery_app":
        from .celery import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["celery_app"]
