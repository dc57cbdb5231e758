"""The token loop's text handling: stop sequences held back while forming, UTF-8 kept whole."""

from __future__ import annotations

from appliance.backends.llama_run import _forming_stop, _utf8_boundary


def test_a_forming_stop_sequence_is_held_back() -> None:
    assert _forming_stop(b"hello <|im", [b"<|im_end|>"]) == 4
    assert _forming_stop(b"hello", [b"<|im_end|>"]) == 0
    assert _forming_stop(b"ab", [b"bc", b"abc"]) == 2


def test_a_multibyte_character_is_never_cut() -> None:
    euro = "€".encode()  # three bytes
    assert _utf8_boundary(b"a" + euro[:1], 2) == 1
    assert _utf8_boundary(b"a" + euro[:2], 3) == 1
    assert _utf8_boundary(b"a" + euro, 4) == 4
    assert _utf8_boundary(b"abc", 3) == 3
