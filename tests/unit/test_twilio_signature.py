"""X-Twilio-Signature checked against Twilio's documented vector and an HMAC computed here by hand."""

from __future__ import annotations

import base64
import hashlib
import hmac

from api.twilio_signature import is_valid, signature

# The example of Twilio's webhook security documentation (also twilio-python's validator test).
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
    ("Caller", "+14158675309"),
]
DOCUMENTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def by_hand(token: str, text: str) -> str:
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


def test_the_documented_example_gives_the_documented_signature() -> None:
    # URL, then the parameters sorted by name, each name immediately followed by its value.
    text = URL + "CallSidCA1234567890ABCDE" + "Caller+14158675309" + "Digits1234" + "From+14158675309" + "To+18005551212"
    assert by_hand(TOKEN, text) == DOCUMENTED
    assert signature(TOKEN, URL, PARAMS) == DOCUMENTED
    assert is_valid(TOKEN, URL, PARAMS, DOCUMENTED)


def test_a_port_in_the_url_does_not_matter_as_twilio_is_inconsistent_about_it() -> None:
    assert is_valid(TOKEN, "https://mycompany.com:1234/myapp.php?foo=1&bar=2", PARAMS, DOCUMENTED)
    with_default_port = by_hand(TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2" + "".join(n + v for n, v in sorted(PARAMS)))
    assert is_valid(TOKEN, URL, PARAMS, with_default_port)


def test_repeated_parameters_are_sorted_by_value_and_counted_once() -> None:
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]
    expected = by_hand(TOKEN, URL + "Digits1234" + "Digits5678" + "SidCA123" + "SidAccountAC123")
    assert signature(TOKEN, URL, params) == expected == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_wrong_token_changed_parameter_other_url_or_no_signature_are_invalid() -> None:
    assert not is_valid("54321", URL, PARAMS, DOCUMENTED)
    assert not is_valid(TOKEN, URL, [*PARAMS[:-1], ("Caller", "+10000000000")], DOCUMENTED)
    assert not is_valid(TOKEN, "https://mycompany.com/other.php?foo=1&bar=2", PARAMS, DOCUMENTED)
    assert not is_valid(TOKEN, URL, PARAMS, None)
    assert not is_valid(TOKEN, URL, PARAMS, "")
