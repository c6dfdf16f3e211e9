"""Property tests of connection-string handling: whatever the password holds, no message shows it."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.errors import InputError
from geodata.postgis import _scrub, label, mask_url, parse_url

URL_CHARS = "/@:#%?& +=;'\"\\\t"
password = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(URL_CHARS), min_size=3, max_size=40).map(
    lambda p: "Zq7" + p.strip().replace("\x00", "")  # "Zq7": a password cannot hide inside the URL's other text
)
user = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)


def _shown(text: str, pw: str) -> bool:
    return pw in text or quote(pw, safe="") in text


@settings(max_examples=300, deadline=None)
@given(user=user, pw=password)
def test_an_encoded_password_is_parsed_back_exactly_and_never_shown(user, pw):
    url = f"postgresql://{user}:{quote(pw, safe='')}@db.example.cn:5432/county"
    assert parse_url(url).password == pw
    masked = mask_url(url)
    assert not _shown(masked, pw) and masked.startswith(f"postgresql://{user}:***@db.example.cn")
    assert not _shown(label(url, layer="public.grids"), pw)
    assert not _shown(_scrub(f'FATAL: password authentication failed for "{pw}" ({url})', url), pw)


@settings(max_examples=300, deadline=None)
@given(user=user, pw=password)
def test_an_unencoded_password_is_either_read_or_refused_never_shown(user, pw):
    url = f"postgresql://{user}:{pw}@db.example.cn:5432/county"
    assert not _shown(mask_url(url), pw)
    try:
        parsed = parse_url(url)
    except InputError as exc:
        assert not _shown(str(exc), pw)
        assert "percent-encode" in str(exc)
    else:
        assert parsed.host == "db.example.cn" or "@" not in (parsed.host or "")
        assert not _shown(mask_url(url), str(parsed.password or pw))


def test_a_password_whose_at_sign_leaves_a_piece_of_it_as_the_host_is_refused_and_masked_whole():
    """Found by the property above: 'Zq7@\x1f?' left '\x1f' as the host and the rest in the query."""
    url = "postgresql://a:Zq7@\x1f?@db.example.cn:5432/county"
    with pytest.raises(InputError) as caught:
        parse_url(url)
    assert "percent-encode" in str(caught.value)
    assert "\x1f" not in str(caught.value) and "Zq7" not in str(caught.value)
    assert mask_url(url) == "postgresql://***@db.example.cn:5432/county"


@settings(max_examples=200, deadline=None)
@given(pw=password)
def test_a_password_in_the_query_is_masked(pw):
    url = f"postgresql://gis@db/county?sslmode=require&password={quote(pw, safe='')}"
    assert not _shown(mask_url(url), pw) and "password=***" in mask_url(url)


@pytest.mark.parametrize("pw", ["p/w@x:y#z%q?r s", "a@b", "a/b", "a:b", "a#b", "a%b", "a?b", "a b"])
def test_every_url_character_in_a_password(pw):
    url = f"postgresql://gis:{quote(pw, safe='')}@db:5432/county"
    assert parse_url(url).password == pw and mask_url(url) == "postgresql://gis:***@db:5432/county"
