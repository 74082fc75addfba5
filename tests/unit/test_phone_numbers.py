"""PhoneNumberValidate from libphonenumber's offline metadata."""

from __future__ import annotations

import pytest

from kizuna.errors import BadRequest
from kizuna.services.phone_numbers import validate_phone_number


def test_a_japanese_mobile_is_cleansed_and_described():
    response = validate_phone_number({"PhoneNumber": "090-1234-5678", "IsoCountryCode": "jp"})

    assert response["CleansedPhoneNumberE164"] == "+819012345678"
    assert response["CleansedPhoneNumberNational"] == "09012345678"
    assert response["CountryCodeIso2"] == "JP" and response["CountryCodeNumeric"] == "81"
    assert response["Country"] == "Japan" and response["Timezone"] == "Asia/Tokyo"
    assert (response["PhoneType"], response["PhoneTypeCode"]) == ("MOBILE", 0)
    assert response["OriginalPhoneNumber"] == "090-1234-5678" and response["OriginalCountryCodeIso2"] == "JP"


def test_a_london_landline_has_its_city_and_type():
    response = validate_phone_number({"PhoneNumber": "+44 20 7946 0000"})

    assert (response["PhoneType"], response["PhoneTypeCode"]) == ("LANDLINE", 1)
    assert response["City"] == "London"


def test_the_carrier_is_reported_when_the_metadata_knows_it():
    assert validate_phone_number({"PhoneNumber": "+819012345678"})["Carrier"]


@pytest.mark.parametrize("number", ["12345", "+999 1234", "hello", "+1 555 0100"])
def test_an_invalid_number_is_reported_invalid_not_an_error(number):
    response = validate_phone_number({"PhoneNumber": number})

    assert (response["PhoneType"], response["PhoneTypeCode"]) == ("INVALID", 3)
    assert "CleansedPhoneNumberE164" not in response


def test_a_missing_number_is_a_bad_request():
    with pytest.raises(BadRequest, match=r"NumberValidateRequest\.PhoneNumber"):
        validate_phone_number({"IsoCountryCode": "US"})


def test_a_malformed_country_code_is_a_bad_request():
    with pytest.raises(BadRequest, match=r"NumberValidateRequest\.IsoCountryCode"):
        validate_phone_number({"PhoneNumber": "0312345678", "IsoCountryCode": "JPN"})
