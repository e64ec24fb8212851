"""The SQL filter subset evaluates like Service Bus: three-valued, on application properties."""

from __future__ import annotations

import pytest

from tests.servicebus_double.filters import (
    CorrelationFilter,
    FilterSyntaxError,
    SqlFilter,
)

TRANSPORT_RULE = "uid <> 'a' AND (requesterUid IS NULL OR requesterUid = 'a')"


@pytest.mark.parametrize(
    ("properties", "admitted"),
    [
        ({"uid": "b"}, True),
        ({"uid": "a"}, False),
        ({"uid": "b", "requesterUid": "a"}, True),
        ({"uid": "b", "requesterUid": "c"}, False),
        ({}, False),  # uid missing: the comparison is unknown, so the rule does not match
    ],
)
def test_transport_rule(properties: dict[str, str], admitted: bool) -> None:
    assert SqlFilter(TRANSPORT_RULE).matches(properties, {}) is admitted


@pytest.mark.parametrize(
    ("expression", "admitted"),
    [
        ("1=1", True),
        ("1=0", False),
        ("EXISTS(nsp)", True),
        ("EXISTS(missing)", False),
        ("NOT EXISTS(missing)", True),
        ("missing IS NULL", True),
        ("nsp IS NOT NULL", True),
        ("nsp != '/'", False),
        ("nsp = '/' OR missing = 'x'", True),
        ("NOT (missing = 'x')", False),  # NOT unknown is unknown
        ("nsp IN ('/a', '/')", True),
        ("nsp NOT IN ('/a')", True),
        ("quote = 'it''s'", True),
        ("count >= 2 AND count < 3", True),
        ("user.nsp = '/' AND sys.Label = 'hello'", True),
        ("[nsp] = '/'", True),
    ],
)
def test_operators(expression: str, admitted: bool) -> None:
    properties = {"nsp": "/", "quote": "it's", "count": 2}
    assert SqlFilter(expression).matches(properties, {"subject": "hello"}) is admitted


@pytest.mark.parametrize("expression", ["uid LIKE 'a%'", "uid = ", "(uid = 'a'", "uid + 1 = 2"])
def test_outside_the_subset_is_refused(expression: str) -> None:
    with pytest.raises(FilterSyntaxError):
        SqlFilter(expression)


def test_correlation_filter_matches_every_field() -> None:
    rule = CorrelationFilter(system={"correlation_id": "c1"}, properties={"nsp": "/"})
    assert rule.matches({"nsp": "/"}, {"correlation_id": "c1"})
    assert not rule.matches({"nsp": "/"}, {"correlation_id": "c2"})
    assert not rule.matches({}, {"correlation_id": "c1"})
