from __future__ import annotations

import pytest

from scalehook.domain.selectors import Selector
from scalehook.errors import InvalidRequest


def test_all_pairs_must_match() -> None:
    selector = Selector.parse("tier=front,app=shop")
    assert selector.matches({"tier": "front", "app": "shop", "x": "y"})
    assert not selector.matches({"tier": "front"})
    assert not selector.matches({"tier": "front", "app": "blog"})


def test_empty_value_means_present() -> None:
    selector = Selector.of({"canary": ""})
    assert selector.matches({"canary": "anything"})
    assert not selector.matches({"tier": "front"})


def test_values_are_case_sensitive() -> None:
    assert not Selector.parse("tier=Front").matches({"tier": "front"})


def test_empty_selector_matches_all_and_round_trips() -> None:
    assert Selector.parse("").matches({})
    assert str(Selector.parse("b=2;a=1")) == "a=1,b=2"


def test_empty_name_is_an_error() -> None:
    with pytest.raises(InvalidRequest):
        Selector.parse("=x")
