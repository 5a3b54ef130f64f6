"""Background jobs of core. Thin: they call services and record what happened."""

from django.tasks import task

from kukkaro.core.actors import AUDIT_VERIFY
from kukkaro.core.audit import audit_record, audit_verify
from kukkaro.core.permissions import Action, authorize


@task()
def audit_verify_job() -> dict:
    """Nightly: recompute the audit chain and record the result in the chain itself, so administrators see
    when it was last verified and whether it held."""
    authorize(AUDIT_VERIFY, Action.JOB_RUN)
    count, breaks, head = audit_verify()
    result = {"rows": count, "problems": len(breaks), "head": head, "first_problem": breaks[0].seq if breaks else None}
    audit_record(action="audit.verify", actor=AUDIT_VERIFY, after=result)
    return result
