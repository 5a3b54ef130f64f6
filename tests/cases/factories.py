import datetime as dt

from kukkaro.cases import services
from kukkaro.cases.models import Instrument, RateTable, ServiceUnit
from kukkaro.core.roles import Role
from kukkaro.ledger.models import Unit
from tests.factories import make_user, organiser

CATEGORIES = [
    {
        "code": "personal-assistance",
        "name_fi": "Henkilökohtainen apu",
        "name_sv": "Personlig assistans",
        "name_en": "Personal assistance",
        "service_unit": ServiceUnit.HOUR,
        "unit_cost_cents": 3250,
        "purse_unit": Unit.EUR,
        "default_instrument": Instrument.EMPLOYER,
    },
    {
        "code": "day-activity",
        "name_fi": "Päivätoiminta",
        "name_sv": "Dagverksamhet",
        "name_en": "Day activity",
        "service_unit": ServiceUnit.DAY,
        "unit_cost_cents": 9800,
        "purse_unit": Unit.EUR,
        "default_instrument": Instrument.VOUCHER,
    },
    {
        "code": "transport-trips",
        "name_fi": "Kuljetuspalvelun matkat",
        "name_sv": "Färdtjänstresor",
        "name_en": "Transport service trips",
        "service_unit": ServiceUnit.TRIP,
        "unit_cost_cents": 3000,
        "purse_unit": Unit.TRIP,
        "default_instrument": Instrument.PURCHASED,
    },
    {
        "code": "transport-km",
        "name_fi": "Kilometrikukkaro",
        "name_sv": "Kilometerbudget",
        "name_en": "Kilometre purse",
        "service_unit": ServiceUnit.KM,
        "unit_cost_cents": 180,
        "purse_unit": Unit.KM,
        "default_instrument": Instrument.PURCHASED,
    },
]


def rate_table(organiser_code: str = "lansi-uusimaa", *, valid_from=dt.date(2026, 1, 1), valid_until=None) -> RateTable:
    return services.rate_table_create(
        actor=make_user(Role.ADMIN, organiser_code=organiser_code),
        organiser=organiser(organiser_code),
        name=f"Yksikkökustannukset {valid_from.year}",
        name_sv=f"Enhetskostnader {valid_from.year}",
        name_en=f"Unit costs {valid_from.year}",
        valid_from=valid_from,
        valid_until=valid_until,
        categories=CATEGORIES,
    )
