import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from firmware.versions import Version, is_newer, parse_version, validate_version, version_sort_key


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.9.2", "1.10.0"),
        ("1.2.9", "1.3.0"),
        ("0.9.9", "1.0.0"),
        ("1.3.0-rc.1", "1.3.0"),
        ("1.3.0-beta", "1.3.0-rc.1"),
        ("1.3.0-alpha", "1.3.0-alpha.1"),
        ("1.3.0-alpha.1", "1.3.0-alpha.beta"),
        ("1.3.0-alpha.beta", "1.3.0-beta"),
        ("1.3.0-beta", "1.3.0-beta.2"),
        ("1.3.0-beta.2", "1.3.0-beta.11"),
        ("1.3.0-beta.11", "1.3.0-rc.1"),
        ("1.3.0-rc.9", "1.3.0-rc.10"),
        ("1.3.0", "1.3.1-rc.1"),
        ("v1.2", "1.2.1"),
    ],
)
def test_newer_version_is_newer_and_not_the_other_way_round(older, newer):
    assert is_newer(newer, older)
    assert not is_newer(older, newer)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("1.2", "1.2.0"),
        ("v1.2.0", "1.2.0"),
        ("V1.2.0", "1.2.0"),
        ("1.2.0+build.7", "1.2.0"),
        ("1.2.0-rc.1+abc", "1.2.0-rc.1"),
    ],
)
def test_spellings_of_the_same_release_are_equal_and_neither_is_newer(left, right):
    assert parse_version(left) == parse_version(right)
    assert hash(parse_version(left)) == hash(parse_version(right))
    assert not is_newer(left, right)
    assert not is_newer(right, left)


def test_parse_version_exposes_parts_and_canonical_spelling():
    version = parse_version("v1.10-rc.2+sha.5114f85")
    assert (version.major, version.minor, version.patch) == (1, 10, 0)
    assert version.prerelease == ("rc", 2)
    assert version.build == "sha.5114f85"
    assert version.is_prerelease
    assert str(version) == "1.10.0-rc.2"
    assert not parse_version("1.10.0").is_prerelease


def test_sort_key_orders_a_release_list_by_precedence():
    shuffled = ["1.10.0", "1.3.0-rc.1", "v1.9.2", "1.3.0", "1.3.0-beta", "1.2"]
    assert sorted(shuffled, key=version_sort_key) == ["1.2", "1.3.0-beta", "1.3.0-rc.1", "1.3.0", "v1.9.2", "1.10.0"]


def test_is_newer_accepts_parsed_versions():
    assert is_newer(parse_version("2.0.0"), "1.99.99")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("1", "MAJOR.MINOR"),
        ("1.2.3.4", "MAJOR.MINOR"),
        ("one.two", "MAJOR.MINOR"),
        (" 1.2.3", "MAJOR.MINOR"),
        ("1.2.3-", "MAJOR.MINOR"),
        ("1.2.3-rc..1", "empty part"),
        ("1.2.3+build..1", "empty part"),
        ("1.2.3-rc_1", "MAJOR.MINOR"),
        ("01.2.3", "leading zero"),
        ("1.02.3", "leading zero"),
        ("1.2.3-rc.01", "leading zero"),
        ("1.2.3-" + "a" * 30, "limit is 32"),
        ("1.2.٣", "MAJOR.MINOR"),
    ],
)
def test_invalid_versions_raise_value_error_naming_the_problem(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_version(text)


def test_non_text_version_is_rejected():
    with pytest.raises(ValueError, match="must be text"):
        parse_version(None)


def test_a_32_character_version_is_accepted():
    text = "1.2.3-" + "a" * 26
    assert len(text) == 32
    assert parse_version(text).prerelease == ("a" * 26,)


def test_validate_version_raises_django_validation_error_with_the_reason():
    validate_version("1.3.0-rc.1")
    with pytest.raises(ValidationError) as caught:
        validate_version("latest")
    assert caught.value.code == "invalid_version"
    assert "MAJOR.MINOR" in caught.value.messages[0]


def test_validate_version_passes_on_the_parser_reason():
    with pytest.raises(ValidationError, match="leading zero"):
        validate_version("1.03.0")


_identifier = st.one_of(
    st.integers(min_value=0, max_value=30).map(str),
    st.text(alphabet="abrc-", min_size=1, max_size=4),
)
_versions = st.builds(
    lambda major, minor, patch, pre: f"{major}.{minor}.{patch}" + (f"-{'.'.join(pre)}" if pre else ""),
    st.integers(0, 12),
    st.integers(0, 12),
    st.integers(0, 12),
    st.lists(_identifier, max_size=3),
).map(parse_version)


@given(_versions, _versions)
def test_comparison_is_antisymmetric_and_total(left, right):
    assert (left < right) + (left == right) + (left > right) == 1
    assert (left < right) == (right > left)
    assert is_newer(left, right) == (right < left)


@given(_versions, _versions, _versions)
def test_comparison_is_transitive(first, second, third):
    if first <= second <= third:
        assert first <= third
    if first < second < third:
        assert first < third
    if first == second == third:
        assert first == third


@given(_versions)
def test_canonical_spelling_parses_back_to_an_equal_version(version):
    assert parse_version(str(version)) == version
    assert isinstance(version, Version)


@given(st.lists(_versions, min_size=2, max_size=8))
def test_sorting_leaves_no_inversion_between_any_pair(versions):
    ordered = sorted(versions)
    for index, earlier in enumerate(ordered):
        for later in ordered[index + 1 :]:
            assert not later < earlier
