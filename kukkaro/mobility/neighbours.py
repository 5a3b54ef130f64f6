"""Neighbouring municipalities of the organisers' municipalities (Statistics Finland codes), for the classic
allowed area of disability transport: the home municipality and its neighbours.

Reference data to confirm with each county (borders after the mergers of 2013–2021, as known to us): a county
that allows a wider area gives the client an unlimited area instead. Codes outside the two counties appear only
as neighbours (Helsinki 091, Vantaa 092, Nurmijärvi 543…).
"""

NEIGHBOURS: dict[str, frozenset[str]] = {
    # Länsi-Uusimaa
    "049": frozenset({"091", "092", "235", "257", "927", "543"}),  # Espoo
    "235": frozenset({"049"}),  # Kauniainen
    "257": frozenset({"049", "927", "444", "755"}),  # Kirkkonummi
    "444": frozenset({"927", "224", "257", "755", "149", "710", "734", "761"}),  # Lohja
    "224": frozenset({"444", "927", "543", "433"}),  # Karkkila
    "927": frozenset({"049", "257", "444", "224", "543"}),  # Vihti
    # Päijät-Häme
    "398": frozenset({"098", "016", "111", "142", "560"}),  # Lahti
    "098": frozenset({"398", "316", "016", "576", "109", "086", "560"}),  # Hollola
    "111": frozenset({"398", "016", "781", "081", "507", "286", "142", "588"}),  # Heinola
    "560": frozenset({"398", "098", "316", "505", "616", "504", "407", "142"}),  # Orimattila
    "016": frozenset({"398", "098", "576", "781", "111"}),  # Asikkala
    "081": frozenset({"781", "111", "588", "172", "425"}),  # Hartola
    "142": frozenset({"398", "111", "560", "286", "407"}),  # Iitti
    "316": frozenset({"098", "560", "086", "505"}),  # Kärkölä
    "576": frozenset({"016", "098", "109", "290", "781"}),  # Padasjoki
    "781": frozenset({"016", "576", "111", "081", "425", "290", "172"}),  # Sysmä
}


def allowed_municipalities(home: str) -> frozenset[str]:
    """The home municipality and its neighbours."""
    return NEIGHBOURS.get(home, frozenset()) | {home}
