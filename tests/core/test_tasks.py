"""Background jobs through the real django-tasks-db backend and its worker command."""

import pytest
from django.core.management import call_command
from django.tasks import TaskResultStatus, task_backends

from kukkaro.core.audit import audit_record
from kukkaro.core.models import AuditEvent
from kukkaro.core.tasks import audit_verify_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def database_tasks(settings):
    # Django resets its task backends when TASKS changes (django.test.signals).
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    assert type(task_backends["default"]).__name__ == "DatabaseBackend"


def test_audit_verify_job__queued_then_run_by_db_worker(database_tasks):
    audit_record(action="test.event", actor=None)
    result = audit_verify_job.enqueue()
    assert result.status == TaskResultStatus.READY
    assert not AuditEvent.objects.filter(action="audit.verify").exists()  # nothing runs without the worker

    call_command("db_worker", batch=True, no_startup_delay=True, verbosity=0)

    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value["rows"] == 1
    assert result.return_value["problems"] == 0
    assert AuditEvent.objects.filter(action="audit.verify").count() == 1
