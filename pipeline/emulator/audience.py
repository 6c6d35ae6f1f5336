"""The listeners: about 60 countries weighted like a real audience, and a stable pool of users.

A user's attributes are a pure function of (seed, licensor, user index): users are built in blocks,
each from its own seeded generator, so user 1234 is the same person on every day and for every
`rows_per_day`, and a day only pays for the blocks it touches.
"""

from __future__ import annotations

import random
from datetime import date
from functools import lru_cache
from typing import NamedTuple

from pipeline.emulator.catalog import stable_seed

# Rough share of a global streaming audience, in percent.
COUNTRY_WEIGHTS: dict[str, float] = {
    "US": 20.0,
    "BR": 8.0,
    "MX": 6.0,
    "GB": 6.0,
    "DE": 5.0,
    "FR": 4.0,
    "ES": 3.2,
    "IT": 2.8,
    "CA": 2.8,
    "IN": 3.0,
    "ID": 2.5,
    "AU": 2.4,
    "PH": 2.2,
    "AR": 2.1,
    "NL": 1.9,
    "SE": 1.8,
    "PL": 1.8,
    "JP": 1.8,
    "TR": 1.5,
    "CL": 1.5,
    "CO": 1.5,
    "PE": 1.0,
    "KR": 0.8,
    "NO": 0.8,
    "DK": 0.7,
    "FI": 0.7,
    "BE": 0.8,
    "AT": 0.6,
    "CH": 0.6,
    "PT": 0.6,
    "IE": 0.5,
    "NZ": 0.5,
    "ZA": 0.6,
    "NG": 0.5,
    "EG": 0.4,
    "SA": 0.5,
    "AE": 0.4,
    "IL": 0.3,
    "TH": 0.8,
    "VN": 0.8,
    "MY": 0.7,
    "SG": 0.4,
    "TW": 0.5,
    "HK": 0.3,
    "RO": 0.5,
    "CZ": 0.4,
    "HU": 0.3,
    "GR": 0.4,
    "UA": 0.4,
    "EC": 0.4,
    "GT": 0.3,
    "CR": 0.2,
    "DO": 0.3,
    "UY": 0.2,
    "PY": 0.2,
    "BO": 0.2,
    "KE": 0.2,
    "MA": 0.3,
    "PK": 0.3,
    "BG": 0.2,
}

_REGIONS: dict[str, tuple[str, ...]] = {
    "US": ("US-CA", "US-TX", "US-NY", "US-FL", "US-IL", "US-WA", "US-GA", "US-MA"),
    "BR": ("BR-SP", "BR-RJ", "BR-MG", "BR-BA", "BR-RS"),
    "MX": ("MX-CMX", "MX-JAL", "MX-NLE", "MX-PUE"),
    "GB": ("GB-ENG", "GB-SCT", "GB-WLS", "GB-NIR"),
    "DE": ("DE-BY", "DE-BE", "DE-NW", "DE-HH", "DE-BW"),
    "FR": ("FR-IDF", "FR-ARA", "FR-PAC", "FR-OCC"),
}
GENDERS = ("female", "male", "non_binary", "unknown")
GENDER_WEIGHTS = (46, 46, 2, 6)
PRODUCTS = ("free", "premium", "family", "duo", "student")
PRODUCT_WEIGHTS = (42, 30, 15, 6, 7)
AGE_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("0-17", 0, 17),
    ("18-22", 18, 22),
    ("23-27", 23, 27),
    ("28-34", 28, 34),
    ("35-44", 35, 44),
    ("45-59", 45, 59),
    ("60-150", 60, 150),
)
AGE_BUCKET_NAMES = (*(b[0] for b in AGE_BUCKETS), "unknown")
_BLOCK = 256
ACCOUNT_EPOCH = date(2024, 1, 1).toordinal()
BIRTH_YEARS = tuple(range(1935, 2014))
# Listeners skew young: most were born between the late 1980s and the late 2000s.
BIRTH_WEIGHTS = tuple(max(0.3, 12.0 - abs(y - 2000) * (0.5 if y < 2000 else 0.9)) for y in BIRTH_YEARS)


@lru_cache(maxsize=8192)
def age_bucket(birth_year: int | None, day: date) -> str:
    """The aggregated-streams age group of someone born in `birth_year`, on `day`."""
    if birth_year is None:
        return "unknown"
    age = day.year - birth_year
    for name, low, high in AGE_BUCKETS:
        if low <= age <= high:
            return name
    return "unknown"


@lru_cache(maxsize=256)
def regions(country: str) -> tuple[str, ...]:
    """ISO 3166-2 style region codes of a country (real ones for the biggest markets)."""
    return _REGIONS.get(country) or tuple(f"{country}-{i:02d}" for i in range(1, 4))


class User(NamedTuple):
    """One listener (a named tuple: the generator builds tens of thousands per day)."""

    user_id: str
    birth_year: int | None
    gender: str
    country: str
    region_code: str
    product: str
    created_ordinal: int  # the day the account was opened, as a proleptic ordinal

    @property
    def access(self) -> str:
        """What a stream by this user reports as `access`: family/duo/student are premium plans."""
        return "free" if self.product == "free" else "premium"

    def account_age_days(self, day: date) -> int:
        return max(0, day.toordinal() - self.created_ordinal)


@lru_cache(maxsize=64)
def _country_table(seed: int, licensor: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Country weights, perturbed per licensor so audiences differ a little between licensors."""
    rng = random.Random(stable_seed(seed, licensor, "countries"))
    names = tuple(COUNTRY_WEIGHTS)
    weights = tuple(w * rng.uniform(0.6, 1.4) for w in COUNTRY_WEIGHTS.values())
    return names, weights


@lru_cache(maxsize=4096)
def user_block(seed: int, licensor: str, block: int) -> tuple[User, ...]:
    """Users `block * 256` to `block * 256 + 255` of a licensor's audience."""
    rng = random.Random(stable_seed(seed, licensor, "users", block))
    names, weights = _country_table(seed, licensor)
    countries = rng.choices(names, weights, k=_BLOCK)
    genders = rng.choices(GENDERS, GENDER_WEIGHTS, k=_BLOCK)
    products = rng.choices(PRODUCTS, PRODUCT_WEIGHTS, k=_BLOCK)
    births: list[int | None] = list(rng.choices(BIRTH_YEARS, BIRTH_WEIGHTS, k=_BLOCK))
    rnd = rng.random
    users = []
    for country, gender, product, birth_year in zip(countries, genders, products, births, strict=True):
        if rnd() < 0.06:
            birth_year = None  # not every account tells its age
        places = regions(country)
        users.append(
            User(
                user_id=f"{rng.getrandbits(128):032x}",
                birth_year=birth_year,
                gender=gender,
                country=country,
                region_code=places[int(rnd() * len(places))],
                product="student" if product == "family" and birth_year and birth_year > 2004 else product,
                created_ordinal=ACCOUNT_EPOCH - int(rnd() * 5000),
            )
        )
    return tuple(users)


@lru_cache(maxsize=4096)
def stream_fragments(seed: int, licensor: str, block: int) -> tuple[str, ...]:
    """The JSON fragment every stream row of each user of a block carries (day-independent)."""
    return tuple(
        f'"user_id":"{u.user_id}","country":"{u.country}","region_code":"{u.region_code}","access":"{u.access}",'
        for u in user_block(seed, licensor, block)
    )


def stream_fragment(seed: int, licensor: str, index: int) -> str:
    return stream_fragments(seed, licensor, index // _BLOCK)[index % _BLOCK]


def user_at(seed: int, licensor: str, index: int) -> User:
    """User number `index` of the licensor's audience."""
    return user_block(seed, licensor, index // _BLOCK)[index % _BLOCK]
