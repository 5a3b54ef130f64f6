"""The services story's specification, read from the data files ``specs/catalogue.toml``, ``specs/providers.toml``
and ``specs/claims.toml`` (``spec_loader`` checks them): the catalogue with its caps, the counties' spending
policies, the providers, and the words of the disputes. ``services_data`` tells the story with these.

The names keep the shapes the story uses: ``SERVICE_TYPES`` is a list of (code, Finnish, Swedish, English, unit,
the rate category whose budget lines pay for it); the other tables are explained in the data files."""

from dataclasses import dataclass, field

from kukkaro.demo.spec_loader import SpecError, Table, load
from kukkaro.services.models import ClaimSource

LIVES = ("approved", "applied", "rejected", "suspended", "ended")


@dataclass(frozen=True)
class ProviderSpec:
    slug: str
    organiser: str
    name: str
    base: str  # seven digits of the business ID; the check digit is computed
    contact: tuple[str, str]
    address: str
    municipalities: tuple[str, ...]
    languages: tuple[str, ...]
    accessibility: tuple[str, ...]
    bank: str  # a Finnish bank code: the IBAN is generated for it, the BIC is that bank's
    prices: dict[str, int] = field(hash=False)
    description: str
    channel: str = ClaimSource.FORM  # how it sends claims
    life: str = "approved"  # approved, applied, rejected, suspended or ended
    demo_user: bool = False  # applied by provider.demo

    @property
    def prefix(self) -> str:
        return self.slug[:3].upper()


def _services(table: Table, key: str, known: set[str]) -> dict[str, int]:
    """A table of amounts per service code, each code one of the catalogue's."""
    values = table.table(key).int_values()
    for code in values:
        if code not in known:
            raise table.table(key).error(code, "not a service type of catalogue.toml")
    return values


def _service_types(catalogue: Table) -> list[tuple[str, str, str, str, str, str]]:
    keys = ("code", "name_fi", "name_sv", "name_en", "unit", "category")
    return [
        (t.text("code"), t.text("name_fi"), t.text("name_sv"), t.text("name_en"), t.text("unit"), t.text("category"))
        for t in (row.only(*keys) for row in catalogue.tables("service_types"))
    ]


def _provider(table: Table, known: set[str]) -> ProviderSpec:
    table.only(
        "slug", "organiser", "name", "base", "contact", "address", "municipalities", "languages", "accessibility",
        "bank", "description", "channel", "life", "demo_user", "prices",
    )  # fmt: skip
    table.where = f"{table.where} ({table.text('slug')})"
    channel = table.text("channel", ClaimSource.FORM)
    if channel not in ClaimSource.values:
        raise table.error("channel", f"one of {', '.join(ClaimSource.values)}, not {channel!r}")
    life = table.text("life", "approved")
    if life not in LIVES:
        raise table.error("life", f"one of {', '.join(LIVES)}, not {life!r}")
    first, last = table.texts("contact", length=2)
    return ProviderSpec(
        slug=table.text("slug"),
        organiser=table.text("organiser"),
        name=table.text("name"),
        base=table.text("base"),
        contact=(first, last),
        address=table.text("address"),
        municipalities=table.texts("municipalities"),
        languages=table.texts("languages"),
        accessibility=table.texts("accessibility"),
        bank=table.text("bank"),
        prices=_services(table, "prices", known),
        description=table.text("description"),
        channel=ClaimSource(channel),
        life=life,
        demo_user=table.flag("demo_user", False),
    )


_catalogue = load("catalogue.toml")
_providers = load("providers.toml")
_claims = load("claims.toml")

SERVICE_TYPES = _service_types(_catalogue)
_codes = {row[0] for row in SERVICE_TYPES}
CATEGORY = {code: category for code, _fi, _sv, _en, _unit, category in SERVICE_TYPES}
UNIT = {code: unit for code, _fi, _sv, _en, unit, _category in SERVICE_TYPES}

# The counties' price caps (cents per unit), from the start of the decisions' validity.
CAPS = {
    organiser: _services(_catalogue.table("caps"), organiser, _codes) for organiser in _catalogue.table("caps").data
}
# One new cap version per county from the fourth of the six months: organiser -> (service, cap).
CAP_CHANGES = {
    organiser: (change.text("service"), change.integer("cap_cents"))
    for organiser, change in _catalogue.table("cap_changes").subtables()
}
# The counties' paying accounts: organiser -> (name, bank code, account number, approval threshold, dispute window).
POLICIES = {
    organiser: (
        policy.text("debtor_name"),
        policy.text("bank"),
        policy.text("account"),
        policy.integer("approval_threshold_cents"),
        policy.integer("dispute_window_days"),
    )
    for organiser, policy in _catalogue.table("policies").subtables()
}

PROVIDERS = [_provider(row, _codes) for row in _providers.tables("providers")]
_slugs = {spec.slug for spec in PROVIDERS}
if len(_slugs) != len(PROVIDERS):
    raise SpecError("providers.toml: [providers] slug: a slug is used twice")
# Providers whose price rises from the fourth month: slug -> (service, new price).
PRICE_RISES = {
    slug: (rise.text("service"), rise.integer("price_cents"))
    for slug, rise in _providers.table("price_rises").subtables()
}
_bank_changes = _providers.table("bank_changes").only("approved", "pending")
# Which provider changes bank account (slug, bank code, account): approved in the third month, or still waiting.
BANK_CHANGE_APPROVED, BANK_CHANGE_PENDING = (
    (change.text("provider"), change.text("bank"), change.text("account"))
    for change in (_bank_changes.table("approved"), _bank_changes.table("pending"))
)
for _slug in (*PRICE_RISES, BANK_CHANGE_APPROVED[0], BANK_CHANGE_PENDING[0]):
    if _slug not in _slugs:
        raise SpecError(f"providers.toml: {_slug!r} is not a provider of [[providers]]")

DISPUTES_FI = list(_claims.table("disputes").texts("fi"))
DISPUTES_SV = list(_claims.table("disputes").texts("sv"))
RESOLVE_APPROVE = _claims.table("resolutions").text("approve")
RESOLVE_UPHOLD = _claims.table("resolutions").text("uphold")
