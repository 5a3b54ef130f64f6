import pytest
from django.core.exceptions import PermissionDenied

from kukkaro.core.roles import Role
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_staff_organiser__is_the_organiser_staff_work_for():
    worker = make_user(Role.SOCIAL_WORKER, organiser_code="paijat-hame")
    assert worker.staff_organiser == worker.organiser
    assert worker.staff_organiser_id == worker.organiser_id


@pytest.mark.parametrize("role", [Role.PROVIDER, Role.CLIENT])
def test_staff_organiser__refuses_a_user_who_works_for_no_organiser(role):
    user = make_user(role)
    with pytest.raises(PermissionDenied):
        _ = user.staff_organiser
    with pytest.raises(PermissionDenied):
        _ = user.staff_organiser_id
