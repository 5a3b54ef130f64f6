"""The demo's data files (kukkaro/demo/specs/*.toml) and the loader that reads them with clear errors."""

import pytest

from kukkaro.demo import services_specs, spec_loader
from kukkaro.demo.spec_loader import SpecError, load


def _write(tmp_path, text: str):
    (tmp_path / "bad.toml").write_text(text, encoding="utf-8")
    return load("bad.toml", directory=tmp_path)


def test_the_shipped_files__are_found_next_to_the_module_and_load():
    assert spec_loader.SPECS.is_dir()
    assert {p.name for p in spec_loader.SPECS.glob("*.toml")} == {"catalogue.toml", "providers.toml", "claims.toml"}
    codes = {row[0] for row in services_specs.SERVICE_TYPES}
    assert len(codes) == len(services_specs.SERVICE_TYPES) == 10
    assert {s.slug for s in services_specs.PROVIDERS} >= set(services_specs.PRICE_RISES)
    assert all(set(spec.prices) <= codes for spec in services_specs.PROVIDERS)
    assert set(services_specs.CAPS) == set(services_specs.POLICIES) == {"lansi-uusimaa", "paijat-hame"}


def test_load__names_the_file_when_it_is_not_toml(tmp_path):
    with pytest.raises(SpecError, match=r"^bad\.toml: not valid TOML: "):
        _write(tmp_path, "[providers\nslug = 1\n")


def test_load__names_a_missing_file(tmp_path):
    with pytest.raises(SpecError, match=r"^gone\.toml: no such data file in "):
        load("gone.toml", directory=tmp_path)


def test_table__names_file_table_and_key_of_a_missing_or_mistyped_value(tmp_path):
    spec = _write(tmp_path, '[[providers]]\nslug = "a"\n\n[[providers]]\nslug = 7\n\n[caps.north]\nhome-help = "x"\n')
    first, second = spec.tables("providers")
    assert first.text("slug") == "a"
    with pytest.raises(SpecError, match=r"^bad\.toml: \[providers\[1\]\] slug: expected a string, got int 7$"):
        second.text("slug")
    with pytest.raises(SpecError, match=r"^bad\.toml: \[providers\[0\]\] name: missing$"):
        first.text("name")
    with pytest.raises(SpecError, match=r"^bad\.toml: \[caps\.north\] home-help: expected an integer, got str 'x'$"):
        spec.table("caps").table("north").int_values()


def test_table__keeps_booleans_and_integers_apart_and_refuses_unknown_keys(tmp_path):
    row = _write(tmp_path, '[[rows]]\ncount = true\ncontact = ["Pia"]\ndemo_usr = true\n').tables("rows")[0]
    with pytest.raises(SpecError, match=r"\[rows\[0\]\] count: expected an integer, got bool True"):
        row.integer("count")
    with pytest.raises(SpecError, match=r"\[rows\[0\]\] contact: expected 2 strings, got 1"):
        row.texts("contact", length=2)
    with pytest.raises(SpecError, match=r"\[rows\[0\]\] demo_usr: unknown key"):
        row.only("count", "contact", "demo_user")


def test_provider__a_bad_channel_or_service_is_named_with_the_provider(tmp_path):
    provider = (
        '[[providers]]\nslug = "x"\norganiser = "o"\nname = "n"\nbase = "1"\ncontact = ["a", "b"]\naddress = "s"\n'
        'municipalities = []\nlanguages = []\naccessibility = []\nbank = "1"\ndescription = "d"\n'
    )
    row = _write(tmp_path, provider + 'channel = "fax"\nprices = {}\n').tables("providers")[0]
    with pytest.raises(SpecError, match=r"\[providers\[0\] \(x\)\] channel: one of .*not 'fax'"):
        services_specs._provider(row, {"home-help"})
    row = _write(tmp_path, provider + "prices = { yoga = 100 }\n").tables("providers")[0]
    with pytest.raises(
        SpecError, match=r"\[providers\[0\] \(x\)\.prices\] yoga: not a service type of catalogue\.toml"
    ):
        services_specs._provider(row, {"home-help"})
