"""ISO 4217 alphabetic codes of circulating currencies, with their minor units (decimal places).

Embedded (no network, no third-party package) and deliberately limited to currencies a card
transaction can be in: fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious metals
(XAU, XAG, XPD, XPT), SDR and settlement units (XDR, XSU, XUA, XB*), the test code XTS and "no
currency" XXX are excluded. Transitional codes stay while both are legal tender (ANG/XCG,
SLL/SLE, ZWL/ZWG). Source: ISO 4217 list one (SIX), amendments up to 2025.
"""

from __future__ import annotations

_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_TWO_DECIMALS = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD "
    "GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD "
    "MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP "
    "PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB "
    "TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL"
)

MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_TWO_DECIMALS.split(), 2),
    **dict.fromkeys(_ZERO_DECIMALS.split(), 0),
    **dict.fromkeys(_THREE_DECIMALS.split(), 3),
}
"""Code -> number of decimal places of its minor unit (JPY 0, EUR 2, KWD 3)."""

CURRENCY_CODES: frozenset[str] = frozenset(MINOR_UNITS)
