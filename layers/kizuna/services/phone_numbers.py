"""PhoneNumberValidate from libphonenumber's offline metadata (phonenumbers: carrier, geocoder, timezone).

Pinpoint answers from live carrier data; Kizuna answers from the metadata that ships with phonenumbers, so:
- an invalid or unparseable number is a 200 with PhoneType INVALID (3), as in Pinpoint, not an error;
- numbers libphonenumber cannot split between fixed line and mobile (all of +1) are reported MOBILE: callers use
  PhoneType to decide whether to text a number, and refusing every North American mobile would be worse than an
  SMS to a landline that the provider rejects;
- PREPAID is never reported (no offline source); County and ZipCode are never set.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberType, carrier, geocoder
from phonenumbers import timezone as phone_timezones

from kizuna.errors import BadRequest

MAX_INPUT_CHARS = 64
PHONE_TYPE_CODES = {"MOBILE": 0, "LANDLINE": 1, "VOIP": 2, "INVALID": 3, "OTHER": 4, "PREPAID": 5}
_TYPES = {
    PhoneNumberType.MOBILE: "MOBILE",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "MOBILE",
    PhoneNumberType.FIXED_LINE: "LANDLINE",
    PhoneNumberType.VOIP: "VOIP",
}


def validate_phone_number(request: dict[str, Any] | None) -> dict[str, Any]:
    request = request or {}
    original = request.get("PhoneNumber")
    region = request.get("IsoCountryCode")
    if not original:
        raise BadRequest("NumberValidateRequest.PhoneNumber is required")
    if len(original) > MAX_INPUT_CHARS:
        raise BadRequest(f"NumberValidateRequest.PhoneNumber must be at most {MAX_INPUT_CHARS} characters")
    if region is not None and (len(region) != 2 or not region.isascii() or not region.isalpha()):
        raise BadRequest("NumberValidateRequest.IsoCountryCode must be a two-letter ISO 3166-1 alpha-2 code")
    response: dict[str, Any] = {"OriginalPhoneNumber": original}
    if region:
        response["OriginalCountryCodeIso2"] = region.upper()
    try:
        number = phonenumbers.parse(original, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return response | _typed("INVALID")
    if not phonenumbers.is_valid_number(number):
        return response | _typed("INVALID")
    iso2 = phonenumbers.region_code_for_number(number)
    country = geocoder.country_name_for_number(number, "en")
    place = geocoder.description_for_number(number, "en")
    zones = [z for z in phone_timezones.time_zones_for_number(number) if z != "Etc/Unknown"]
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    response |= {
        "CleansedPhoneNumberE164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        "CleansedPhoneNumberNational": "".join(c for c in national if c.isdigit()),
        "CountryCodeIso2": iso2,
        "CountryCodeNumeric": str(number.country_code),
        **_typed(_TYPES.get(phonenumbers.number_type(number), "OTHER")),
    }
    optional = {
        "Carrier": carrier.name_for_number(number, "en"),
        "Country": country,
        "City": place if place and place != country else None,
        "Timezone": zones[0] if zones else None,
    }
    return response | {k: v for k, v in optional.items() if v}


def _typed(phone_type: str) -> dict[str, Any]:
    return {"PhoneType": phone_type, "PhoneTypeCode": PHONE_TYPE_CODES[phone_type]}
