"""Text a voice would misread, rewritten before synthesis (the words the client sees stay as written).

Piper's phonemizer (espeak-ng) reads "$12.50" as "dollar twelve point five zero"; flite gets it right, and
both read "12 dollars 50 cents" right. Times, percentages, ordinals and plain numbers both voices already
say well, so they are left alone.
"""

from __future__ import annotations

import re

#: Currency sign -> (unit, plural, hundredth, plural).
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
}
_MONEY = re.compile(r"([$£€])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{2}))?(?![\d.,]*\d)")


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


def for_speech(text: str) -> str:
    """`text` as a voice should read it: sums of money spelled as amount and unit."""
    return _MONEY.sub(_money, text)
