"""Browser ids (app/browsers.py): only ids this server signed are taken, so a script cannot mint page budgets."""
from types import SimpleNamespace

from app import browsers


def test_only_signed_ids_are_valid():
    made = browsers.new_id()
    assert len(made) == 40 and browsers.valid(made) and made != browsers.new_id()
    flipped = made[:-1] + ("0" if made[-1] != "0" else "1")
    assert not browsers.valid(flipped), "a changed signature"
    assert not browsers.valid(("1" if made[0] != "1" else "2") + made[1:]), "a changed random part"
    assert not browsers.valid(browsers.new_id(key=b"another server's key")), "another key's id"
    for junk in (None, "", "0" * 40, made.upper(), made + "0", "<script>"):
        assert not browsers.valid(junk), junk
    assert browsers.of_request(SimpleNamespace(dendrite_browser=made)) == made
    assert browsers.of_request(SimpleNamespace(dendrite_browser="0" * 40)) is None
    assert browsers.of_request(SimpleNamespace()) is None, "no front door: one person's own server"
