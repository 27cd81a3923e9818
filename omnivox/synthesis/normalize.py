"""Text a voice would misread, rewritten before synthesis (the words the client sees stay as written).

Each rule fixes something one of the voices gets wrong (checked with `flite -ps` and `espeak-ng -x`, the
phonemiser Piper bundles):

- sums of money: espeak-ng reads "$12.50" as "dollar twelve point five zero"; both read "12 dollars 50
  cents" right. flite drops "€" and "¥" altogether;
- degrees: flite drops "°" ("10°C" -> "ten C");
- "&", "+", "=", the signs of times and division: flite says "ampersand" and drops "+" and "=";
- "#5": both say "hash five";
- Latin and other abbreviations flite spells or mangles: "e.g." ("e g"), "i.e.", "vs." ("versus" in flite
  is "verses"), "approx.", "No. 5" ("no five");
- units after a number: both spell "km", "kg", "mph", "GB" letter by letter;
- simple fractions: espeak-ng says "3/4" as "three slash four", flite as "three fourths";
- "St.": espeak-ng always says "saint", also in "Baker St.".

Times, percentages, ordinals, years, decimals and plain numbers both voices already say well, so they are
left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: Currency sign -> (unit, plural, hundredth, plural).
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "sen", "sen"),
}
_MONEY = re.compile(r"([$£€¥])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{2}))?(?![\d.,]*\d)")


def _money(match: re.Match[str]) -> str:
    unit, units, hundredth, hundredths = _CURRENCIES[match.group(1)]
    whole, cents = match.group(2), match.group(3)
    amount = int(whole.replace(",", ""))
    parts = []
    if amount or not cents or not int(cents):
        parts.append(f"{whole} {unit if amount == 1 else units}")
    if cents and int(cents):
        parts.append(f"{int(cents)} {hundredth if int(cents) == 1 else hundredths}")
    return " ".join(parts)


#: Unit symbol after a number -> (singular, plural).
_UNITS = {
    "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"),
    "ml": ("milliliter", "milliliters"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "ft": ("foot", "feet"),
    "kB": ("kilobyte", "kilobytes"),
    "KB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"),
    "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "kW": ("kilowatt", "kilowatts"),
    "kWh": ("kilowatt hour", "kilowatt hours"),
}
_UNIT = re.compile(
    r"(\d(?:[\d,]*\d)?(?:\.\d+)?)\s?("
    + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
    + r")(?![\w/])"
)


def _unit(match: re.Match[str]) -> str:
    number, symbol = match.groups()
    one, many = _UNITS[symbol]
    return f"{number} {one if number == '1' else many}"


_SMALL = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: Denominator -> (singular, plural) of simple fractions.
_PARTS = {
    2: ("half", "halves"),
    3: ("third", "thirds"),
    4: ("quarter", "quarters"),
    5: ("fifth", "fifths"),
    6: ("sixth", "sixths"),
    8: ("eighth", "eighths"),
    10: ("tenth", "tenths"),
}
_FRACTION = re.compile(r"(?<![\d/.,])([1-9])/(10|[2-68])(?![\d/.,]*\d)")


def _fraction(match: re.Match[str]) -> str:
    top, bottom = int(match.group(1)), int(match.group(2))
    if top >= bottom:  # not a proper fraction: a date or a ratio, left alone
        return match.group(0)
    one, many = _PARTS[bottom]
    return f"{_SMALL[top]} {one if top == 1 else many}"


#: (pattern, replacement), applied in order after sums of money, units and fractions.
_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"(\d)\s?°\s?C\b"), r"\1 degrees Celsius"),
    (re.compile(r"(\d)\s?°\s?F\b"), r"\1 degrees Fahrenheit"),
    (re.compile(r"(\d)\s?°"), r"\1 degrees"),
    (re.compile(r"\s*&\s*"), " and "),
    (re.compile(r"#(?=\d)"), "number "),
    (re.compile(r"\bNo\.\s?(?=\d)"), "number "),
    (re.compile(r"(?<=[\w)])\s*\+\s*(?=[\w(])"), " plus "),
    (re.compile(r"(?<=[\w)])\s*=\s*(?=[\w(])"), " equals "),
    (re.compile(r"(?<=\d)\s*\u00d7\s*(?=\d)|(?<=\d) [x*] (?=\d)"), " times "),
    (re.compile(r"\s*÷\s*"), " divided by "),
    (re.compile(r"\b[eE]\.g\.,?"), "for example"),
    (re.compile(r"\b[iI]\.e\.,?"), "that is"),
    (re.compile(r"\bvs\.?(?=\s)"), "versus"),
    (re.compile(r"\bapprox\.(?=\s)"), "approximately"),
    (re.compile(r"\b([A-Z][a-z]+) St\.(?=\s|$)"), r"\1 Street"),
    (re.compile(r"\bSt\.(?= [A-Z])"), "Saint"),
)


def for_speech(text: str) -> str:
    """`text` as a voice should read it (the rules in the module docstring)."""
    text = _UNIT.sub(_unit, _MONEY.sub(_money, text))
    text = _FRACTION.sub(_fraction, text)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text
