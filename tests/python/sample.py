#!/usr/bin/env python3
"""Reference model of the Python sample this crate answers.

A strongly coupled class hierarchy (dataclasses with real inheritance) is
serialized with a custom ``json.JSONEncoder`` whose ``default`` method handles
what ``json`` cannot (datetime, date, UUID, Decimal, set, Enum, dataclasses),
and decoded back with an ``object_hook``.

Stdlib only, Python 3.11+.

Usage:
    python3 tests/python/sample.py generate --seed S --count N   > out.jsonl
    python3 tests/python/sample.py verify   --seed S --count N   < out.jsonl
    python3 tests/python/sample.py selftest

Wire form written by ``SampleEncoder`` (one JSON object per line):
    * every dataclass -> {"type": ClassName, <fields in declaration order,
      inherited (base) fields first>}; nested Address / LineItem also carry
      "type", as in the original sample;
    * datetime -> datetime.isoformat(), e.g. "2024-05-01T10:20:30.123456+00:00"
      (the fraction is omitted entirely when microsecond == 0);
    * date -> "YYYY-MM-DD"; UUID -> hyphenated lowercase string;
    * Decimal -> str(), always two decimal places here, e.g. "12345678.90";
    * set -> sorted JSON array; Enum -> its .value (Tier is an int 1..3);
    * None -> null (the encoder always writes every field);
    * non-ASCII text is \\u-escaped (json.dumps default ensure_ascii=True),
      astral characters such as emoji as UTF-16 surrogate pairs.

The decoder additionally accepts the Rust form: nested objects without "type",
any key order, "Z" suffix and 0..9 fractional digits on datetimes (digits below
the microsecond must be zero), differently normalized decimals, arrays for sets
in any order, and optional fields either null or absent. Unknown extra keys are
ignored; an unknown "type" is an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import sys
import typing
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Optional
from uuid import UUID

# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------


class Department(Enum):
    ENGINEERING = "engineering"
    SALES = "sales"
    SUPPORT = "support"
    FINANCE = "finance"


class Tier(Enum):
    BRONZE = 1
    SILVER = 2
    GOLD = 3


class OrderStatus(Enum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


@dataclass(eq=True)
class Address:
    street: str
    city: str
    postal_code: str
    country: str


@dataclass(eq=True)
class LineItem:
    sku: str
    quantity: int
    unit_price: Decimal


@dataclass(eq=True)
class Entity:
    id: UUID
    created_at: datetime  # timezone-aware UTC, with microseconds


@dataclass(eq=True)
class Person(Entity):
    name: str
    email: str
    birth_date: date
    address: Address
    tags: set[str]
    phone: Optional[str]


@dataclass(eq=True)
class Employee(Person):
    employee_no: int
    department: Department
    salary: Decimal
    manager_id: Optional[UUID]
    skills: set[str]


@dataclass(eq=True)
class Customer(Person):
    tier: Tier
    credit_limit: Decimal
    vip: bool


@dataclass(eq=True)
class Order(Entity):
    customer_id: UUID
    status: OrderStatus
    items: list[LineItem]
    total: Decimal
    shipped_on: Optional[date]
    note: Optional[str]


#: Every class the object_hook may build from a dict carrying "type".
CLASSES: dict[str, type] = {
    cls.__name__: cls for cls in (Address, LineItem, Person, Employee, Customer, Order)
}
#: Classes allowed at the top level of a line.
TOP_LEVEL: tuple[type, ...] = (Person, Employee, Customer, Order)

# --------------------------------------------------------------------------
# Encoder
# --------------------------------------------------------------------------


class SampleEncoder(json.JSONEncoder):
    """Handles what json cannot; dataclasses become {"type": ..., **fields}."""

    def default(self, o: Any) -> Any:
        # datetime is a subclass of date: test it first (same output anyway).
        if isinstance(o, datetime):
            return o.isoformat()
        if isinstance(o, date):
            return o.isoformat()
        if isinstance(o, UUID):
            return str(o)
        if isinstance(o, Decimal):
            return str(o)
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        if isinstance(o, Enum):
            return o.value
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            out: dict[str, Any] = {"type": type(o).__name__}
            # fields() lists base-class fields first, then subclass fields.
            for f in dataclasses.fields(o):
                out[f.name] = getattr(o, f.name)
            return out
        return super().default(o)


def encode(obj: Any) -> str:
    return json.dumps(obj, cls=SampleEncoder)


# --------------------------------------------------------------------------
# Decoder
# --------------------------------------------------------------------------


class DecodeError(ValueError):
    pass


_DT_RE = re.compile(
    r"^(?P<head>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)"
    r"(?:[.,](?P<frac>\d+))?"
    r"(?P<tz>Z|z|[+-]\d{2}:?\d{2}(?::?\d{2})?)?$"
)


def parse_datetime(s: str, path: str = "") -> datetime:
    """Parse an ISO-8601 / RFC 3339 timestamp; must carry an offset.

    Accepts "Z" or "+HH:MM", and 0..9 fractional digits. Digits beyond the
    microsecond must be zero (Python cannot represent them).
    """
    m = _DT_RE.match(s)
    if not m:
        raise DecodeError(f"{path}: not an ISO-8601 datetime: {s!r}")
    frac = m.group("frac") or ""
    if len(frac) > 6:
        if frac[6:].strip("0"):
            raise DecodeError(f"{path}: sub-microsecond precision not representable: {s!r}")
        frac = frac[:6]
    tz = m.group("tz")
    if tz is None:
        raise DecodeError(f"{path}: datetime without UTC offset: {s!r}")
    if tz in ("Z", "z"):
        tz = "+00:00"
    norm = m.group("head") + ("." + frac.ljust(6, "0") if frac else "") + tz
    try:
        dt = datetime.fromisoformat(norm)
    except ValueError as e:
        raise DecodeError(f"{path}: bad datetime {s!r}: {e}") from None
    return dt.astimezone(timezone.utc)


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional_inner(tp: Any) -> Any | None:
    """Return X for Optional[X], else None."""
    if typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and type(None) in typing.get_args(tp):
            return args[0]
    return None


def convert(value: Any, tp: Any, path: str) -> Any:
    """Convert a JSON value (or an already-built dataclass) to annotated type tp."""
    inner = _optional_inner(tp)
    if inner is not None:
        return None if value is None else convert(value, inner, path)
    if value is None:
        raise DecodeError(f"{path}: null for non-optional field of type {_tname(tp)}")

    origin = typing.get_origin(tp)
    if origin in (set, frozenset):
        (elem,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise DecodeError(f"{path}: expected array for set, got {value!r}")
        return {convert(v, elem, f"{path}[{i}]") for i, v in enumerate(value)}
    if origin is list:
        (elem,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise DecodeError(f"{path}: expected array, got {value!r}")
        return [convert(v, elem, f"{path}[{i}]") for i, v in enumerate(value)]

    if tp is bool:
        if not isinstance(value, bool):
            raise DecodeError(f"{path}: expected bool, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DecodeError(f"{path}: expected int, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise DecodeError(f"{path}: expected string, got {value!r}")
        return value
    if tp is Decimal:
        # Contract: decimals travel as JSON strings (never floats).
        if not isinstance(value, str):
            raise DecodeError(f"{path}: expected decimal as string, got {value!r}")
        try:
            d = Decimal(value)
        except Exception:
            raise DecodeError(f"{path}: bad decimal {value!r}") from None
        if not d.is_finite():
            raise DecodeError(f"{path}: non-finite decimal {value!r}")
        return d
    if tp is UUID:
        if not isinstance(value, str):
            raise DecodeError(f"{path}: expected UUID string, got {value!r}")
        try:
            return UUID(value)
        except ValueError:
            raise DecodeError(f"{path}: bad UUID {value!r}") from None
    if tp is datetime:
        if not isinstance(value, str):
            raise DecodeError(f"{path}: expected datetime string, got {value!r}")
        return parse_datetime(value, path)
    if tp is date:
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise DecodeError(f"{path}: expected date 'YYYY-MM-DD', got {value!r}")
        try:
            return date.fromisoformat(value)
        except ValueError as e:
            raise DecodeError(f"{path}: bad date {value!r}: {e}") from None
    if isinstance(tp, type) and issubclass(tp, Enum):
        if isinstance(value, bool):
            raise DecodeError(f"{path}: bad {tp.__name__} value {value!r}")
        try:
            return tp(value)
        except ValueError:
            allowed = [m.value for m in tp]
            raise DecodeError(
                f"{path}: bad {tp.__name__} value {value!r}, expected one of {allowed}"
            ) from None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if type(value) is tp:  # already built by the object_hook (nested "type")
            return value
        if dataclasses.is_dataclass(value):
            raise DecodeError(
                f"{path}: expected {tp.__name__}, got {type(value).__name__}"
            )
        if not isinstance(value, dict):
            raise DecodeError(f"{path}: expected object for {tp.__name__}, got {value!r}")
        return build(tp, value, path)
    raise DecodeError(f"{path}: unsupported annotation {tp!r}")


def _tname(tp: Any) -> str:
    return getattr(tp, "__name__", repr(tp))


def build(cls: type, d: dict[str, Any], path: str = "") -> Any:
    """Build dataclass cls from dict d, converting per the field annotations."""
    declared = d.get("type")
    if declared is not None and declared != cls.__name__:
        raise DecodeError(f"{path}: expected type {cls.__name__!r}, got {declared!r}")
    hints = _type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        fpath = f"{path}.{f.name}" if path else f.name
        if f.name in d:
            kwargs[f.name] = convert(d[f.name], tp, fpath)
        elif _optional_inner(tp) is not None:
            kwargs[f.name] = None  # absent optional == None
        else:
            raise DecodeError(f"{fpath}: missing required field of {cls.__name__}")
    # Unknown extra keys are ignored on purpose.
    return cls(**kwargs)


def sample_object_hook(d: dict[str, Any]) -> Any:
    """json object_hook: dicts carrying "type" become instances.

    Dicts without "type" (the Rust form of nested Address / LineItem) are left
    alone and converted by the enclosing class using its field annotations.
    """
    if "type" not in d:
        return d
    name = d["type"]
    cls = CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise DecodeError(
            f"unknown type {name!r}; known types: {sorted(CLASSES)}"
        )
    return build(cls, d, name)


def decode(line: str) -> Any:
    obj = json.loads(line, object_hook=sample_object_hook)
    if isinstance(obj, dict):
        raise DecodeError("top-level object has no 'type' key")
    if type(obj) not in TOP_LEVEL:
        raise DecodeError(
            f"top-level type {type(obj).__name__} is not one of "
            f"{[c.__name__ for c in TOP_LEVEL]}"
        )
    return obj


# --------------------------------------------------------------------------
# Deterministic random generation
# --------------------------------------------------------------------------

FIRST_NAMES = [
    "Alice", "Bob", "José", "Zoë", "Ólafur", "Björk", "François", "Søren",
    "Łukasz", "Nguyễn", "Ærin", "Παναγιώτης", "Владимир", "太郎", "小龙",
    "지민", "Müller", "Renée", "O'Neil", "Ana-María", "😀 Smiley", "Dmitrij",
    "Ünal", "Çağla",
]
LAST_NAMES = [
    "Smith", "Álvarez", "Ångström", "Dvořák", "Škoda", "Øvergaard", "山田",
    "李", "김", "Ибрагимов", "Παπαδόπουλος", "van der Berg", "Nuñez",
    "D'Artagnan", "Żółć", "Straße", "🚀 Rocket", "Quote\"Inside", "Back\\slash",
    "Lee",
]
STREETS = [
    "Main Street", "Rue de l'Église", "Königstraße", "中山路", "Calle Año Nuevo",
    "Via dei Fori Imperiali", "Ulica Świętokrzyska", "Østerbrogade", "Baker St",
    "Avenida São João",
]
CITIES = [
    ("Springfield", "US"), ("Paris", "FR"), ("München", "DE"), ("上海", "CN"),
    ("Madrid", "ES"), ("Roma", "IT"), ("Warszawa", "PL"), ("København", "DK"),
    ("London", "GB"), ("São Paulo", "BR"), ("東京", "JP"), ("Reykjavík", "IS"),
]
TAGS = [
    "new", "vip", "newsletter", "beta", "früh", "青", "🔥", "b2b", "churn-risk",
    "referral", "",
]
SKILLS = [
    "rust", "python", "kafka", "sql", "k8s", "négociation", "support", "日本語",
    "excel", "go", "c++",
]
NOTES = [
    "", "leave at door", "Bitte klingeln", "不要按门铃", "fragile 📦",
    "line1\nline2", "tab\there", "quote \" and backslash \\", "ça va",
]
DOMAINS = ["example.com", "example.org", "mail.test", "exämple.de"]

_UTC_START = datetime(2000, 1, 1, tzinfo=timezone.utc)
_UTC_END = datetime(2031, 1, 1, tzinfo=timezone.utc)  # exclusive: up to end of 2030
_UTC_SPAN_US = (_UTC_END - _UTC_START) // timedelta(microseconds=1)
_DATE_START = date(1950, 1, 1)
_DATE_SPAN_DAYS = (date(2010, 12, 31) - _DATE_START).days


def _uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128))


def _datetime(rng: random.Random) -> datetime:
    dt = _UTC_START + timedelta(microseconds=rng.randrange(_UTC_SPAN_US))
    if rng.random() < 0.05:
        # Whole seconds: isoformat() then omits the fraction entirely.
        dt = dt.replace(microsecond=0)
    return dt


def _date(rng: random.Random) -> date:
    return _DATE_START + timedelta(days=rng.randint(0, _DATE_SPAN_DAYS))


def _money(rng: random.Random, max_cents: int) -> Decimal:
    r = rng.random()
    if r < 0.07:
        cents = 0
    elif r < 0.14:
        cents = 1234567890  # 12345678.90
    elif r < 0.18:
        cents = rng.choice([1, 10, 100, 99999999999])
    else:
        cents = rng.randint(0, max_cents)
    return Decimal(cents).scaleb(-2)  # always exactly two decimal places


def _subset(rng: random.Random, pool: list[str], max_n: int) -> set[str]:
    return set(rng.sample(pool, rng.randint(0, max_n)))


def _address(rng: random.Random) -> Address:
    city, country = rng.choice(CITIES)
    return Address(
        street=f"{rng.randint(1, 999)} {rng.choice(STREETS)}",
        city=city,
        postal_code=f"{rng.randint(0, 99999):05d}",  # may have leading zeros
        country=country,
    )


def _person_fields(rng: random.Random) -> dict[str, Any]:
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    return dict(
        id=_uuid(rng),
        created_at=_datetime(rng),
        name=name,
        email=f"user{rng.randint(0, 99999)}@{rng.choice(DOMAINS)}",
        birth_date=_date(rng),
        address=_address(rng),
        tags=_subset(rng, TAGS, 4),
        phone=None if rng.random() < 0.35 else f"+{rng.randint(1, 99)} {rng.randint(100, 999)}-{rng.randint(0, 9999):04d}",
    )


def _make_person(rng: random.Random) -> Person:
    return Person(**_person_fields(rng))


def _make_employee(rng: random.Random) -> Employee:
    base = _person_fields(rng)
    r = rng.random()
    employee_no = 2**31 - 1 if r < 0.05 else (0 if r < 0.08 else rng.randint(1, 2**31 - 1))
    return Employee(
        **base,
        employee_no=employee_no,
        department=rng.choice(list(Department)),
        salary=_money(rng, 50_000_000),
        manager_id=None if rng.random() < 0.3 else _uuid(rng),
        skills=_subset(rng, SKILLS, 5),
    )


def _make_customer(rng: random.Random) -> Customer:
    base = _person_fields(rng)
    return Customer(
        **base,
        tier=rng.choice(list(Tier)),
        credit_limit=_money(rng, 10_000_000),
        vip=rng.random() < 0.5,
    )


def _make_order(rng: random.Random) -> Order:
    oid = _uuid(rng)
    created = _datetime(rng)
    items = [
        LineItem(
            sku=f"SKU-{rng.randint(0, 99999):05d}{rng.choice(['', '-ß', '-蓝', '-XL'])}",
            quantity=rng.randint(1, 100),
            unit_price=_money(rng, 100_000),
        )
        for _ in range(rng.randint(0, 5))
    ]
    total = sum((it.unit_price * it.quantity for it in items), Decimal("0.00"))
    status = rng.choice(list(OrderStatus))
    shipped_on = _date(rng) if status is OrderStatus.SHIPPED and rng.random() < 0.85 else None
    note = None if rng.random() < 0.5 else rng.choice(NOTES)
    return Order(
        id=oid,
        created_at=created,
        customer_id=_uuid(rng),
        status=status,
        items=items,
        total=total,
        shipped_on=shipped_on,
        note=note,
    )


_MAKERS = [_make_person, _make_employee, _make_customer, _make_order]


def generate(seed: int, count: int) -> list[Any]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        # Cycle through the four classes first so small counts cover all.
        maker = _MAKERS[i] if i < len(_MAKERS) else rng.choice(_MAKERS)
        out.append(maker(rng))
    return out


# --------------------------------------------------------------------------
# Comparison / diff
# --------------------------------------------------------------------------


def first_diff(expected: Any, got: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """Return (path, expected, got) of the first difference, or None."""
    if dataclasses.is_dataclass(expected) and not isinstance(expected, type):
        if type(expected) is not type(got):
            return (path + ".type" if path else "type",
                    type(expected).__name__, type(got).__name__)
        for f in dataclasses.fields(expected):
            p = f"{path}.{f.name}" if path else f.name
            r = first_diff(getattr(expected, f.name), getattr(got, f.name), p)
            if r:
                return r
        return None
    if isinstance(expected, list):
        if not isinstance(got, list) or len(expected) != len(got):
            return (path, expected, got)
        for i, (e, g) in enumerate(zip(expected, got)):
            r = first_diff(e, g, f"{path}[{i}]")
            if r:
                return r
        return None
    if type(expected) is not type(got) and not (
        isinstance(expected, datetime) and isinstance(got, datetime)
    ):
        return (path, expected, got)
    if expected != got:
        return (path, expected, got)
    return None


# --------------------------------------------------------------------------
# Simulated Rust form (for selftest)
# --------------------------------------------------------------------------


def _rust_datetime(dt: datetime, rng: random.Random) -> str:
    dt = dt.astimezone(timezone.utc)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{dt.microsecond:06d}"
    style = rng.randrange(4)
    if style == 0:  # trimmed fraction, omitted when zero
        frac = frac.rstrip("0")
        s = base + ("." + frac if frac else "")
    elif style == 1:  # always 6 digits
        s = base + "." + frac
    elif style == 2:  # nanoseconds
        s = base + "." + frac + "000"
    else:  # millis-ish when representable, else 6
        s = base + "." + (frac[:3] if frac.endswith("000") else frac)
    return s + rng.choice(["Z", "Z", "+00:00"])


def _rust_decimal(d: Decimal, rng: random.Random) -> str:
    choice = rng.randrange(3)
    if choice == 0:
        return str(d)
    if choice == 1:  # rust_decimal-style normalize(): strip trailing zeros
        n = d.normalize()
        return format(n, "f")
    return format(d.quantize(Decimal("0.0001")), "f")


def to_rust_like(obj: Any, rng: random.Random, top: bool = True) -> Any:
    """Mimic what the Rust side may write: no nested "type", Z datetimes, etc."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        hints = _type_hints(type(obj))
        items: list[tuple[str, Any]] = []
        if top:
            items.append(("type", type(obj).__name__))
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if v is None and _optional_inner(hints[f.name]) is not None and rng.random() < 0.6:
                continue  # absent optional
            items.append((f.name, to_rust_like(v, rng, top=False)))
        rng.shuffle(items)
        if rng.random() < 0.3:
            items.append(("unknown_extra_key", {"nested": [1, 2, 3]}))
        return dict(items)
    if isinstance(obj, datetime):
        return _rust_datetime(obj, rng)
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, UUID):
        return str(obj)
    if isinstance(obj, Decimal):
        return _rust_decimal(obj, rng)
    if isinstance(obj, (set, frozenset)):
        lst = list(obj)
        rng.shuffle(lst)
        return lst
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, list):
        return [to_rust_like(v, rng, top=False) for v in obj]
    return obj


def selftest() -> int:
    objs = generate(12345, 200)
    assert generate(12345, 200) == objs, "generation is not deterministic"
    kinds = {type(o).__name__ for o in objs}
    assert kinds == {"Person", "Employee", "Customer", "Order"}, kinds

    # 1. Python encoder round trip.
    for i, o in enumerate(objs):
        line = encode(o)
        back = decode(line)
        d = first_diff(o, back)
        assert d is None and back == o, f"python round trip #{i}: {d}"
        raw = json.loads(line)
        assert list(raw)[0] == "type", "type must be the first key"
        if isinstance(o, Person):
            assert raw["address"]["type"] == "Address"
        if isinstance(o, Order):
            assert all(it["type"] == "LineItem" for it in raw["items"])

    # 2. Simulated Rust form, several variants per object.
    rng = random.Random(99)
    for i, o in enumerate(objs):
        for _ in range(3):
            rust = to_rust_like(o, rng)
            for ensure_ascii in (True, False):
                line = json.dumps(rust, ensure_ascii=ensure_ascii)
                back = decode(line)
                d = first_diff(o, back)
                assert d is None and back == o, f"rust-form #{i}: {d}\n{line}"

    # 3. Specific forms.
    e = Employee(
        id=UUID(int=1), created_at=datetime(2024, 5, 1, 10, 20, 30, 120000, tzinfo=timezone.utc),
        name="x", email="e", birth_date=date(1970, 1, 1),
        address=Address("s", "c", "00001", "DE"), tags=set(), phone=None,
        employee_no=1, department=Department.SALES, salary=Decimal("10.50"),
        manager_id=None, skills={"b", "a"},
    )
    line = encode(e)
    raw = json.loads(line)
    assert raw["created_at"] == "2024-05-01T10:20:30.120000+00:00", raw["created_at"]
    assert raw["salary"] == "10.50" and raw["skills"] == ["a", "b"] and raw["tags"] == []
    assert raw["department"] == "sales" and raw["manager_id"] is None and raw["phone"] is None
    assert raw["id"] == "00000000-0000-0000-0000-000000000001"
    rust = {k: v for k, v in raw.items() if v is not None}
    del rust["address"]["type"]
    rust["created_at"] = "2024-05-01T10:20:30.12Z"
    rust["salary"] = "10.5"
    rust["skills"] = ["b", "a"]
    assert decode(json.dumps(rust)) == e
    for variant, val in [("2024-05-01T10:20:30.120000000Z", True),
                         ("2024-05-01T10:20:30.120000001Z", False),
                         ("2024-05-01T10:20:30.12", False),
                         ("2024-05-01T12:20:30.12+02:00", True)]:
        rust["created_at"] = variant
        ok = True
        try:
            ok = decode(json.dumps(rust)) == e
        except DecodeError:
            ok = False
        assert ok is val, (variant, ok)
    rust["created_at"] = "2024-05-01T10:20:30.12Z"

    c = Customer(
        id=UUID(int=2), created_at=datetime(2001, 1, 1, tzinfo=timezone.utc), name="n",
        email="e", birth_date=date(1960, 2, 29), address=Address("s", "c", "p", "FR"),
        tags={"t"}, phone="1", tier=Tier.GOLD, credit_limit=Decimal("0.00"), vip=True,
    )
    raw = json.loads(encode(c))
    assert raw["tier"] == 3 and raw["vip"] is True and raw["credit_limit"] == "0.00"
    assert raw["created_at"] == "2001-01-01T00:00:00+00:00"

    # Errors that must be clear.
    def expect_error(line: str, needle: str) -> None:
        try:
            decode(line)
        except DecodeError as err:
            assert needle in str(err), (needle, str(err))
        else:
            raise AssertionError(f"expected failure for {line}")

    expect_error(json.dumps({**rust, "type": "Manager"}), "unknown type 'Manager'")
    expect_error(json.dumps({k: v for k, v in rust.items() if k != "type"}), "no 'type'")
    expect_error(json.dumps({k: v for k, v in rust.items() if k != "salary"}), "salary: missing")
    expect_error(json.dumps({**rust, "salary": 10.5}), "decimal as string")
    expect_error(json.dumps({**rust, "department": "Sales"}), "bad Department")
    raw_c = json.loads(encode(c))
    expect_error(json.dumps({**raw_c, "tier": "3"}), "bad Tier")
    expect_error(json.dumps({**raw_c, "address": {"type": "LineItem", "sku": "s",
                                                  "quantity": 1, "unit_price": "1.00"}}),
                 "expected Address, got LineItem")
    expect_error(json.dumps({**raw_c, "address": {**raw_c["address"], "type": "LineItem"}}),
                 "LineItem.sku: missing")
    expect_error(json.dumps([1]), "top-level type")

    # Diff detection.
    changed = dataclasses.replace(e, salary=Decimal("10.51"))
    assert first_diff(e, changed) == ("salary", Decimal("10.50"), Decimal("10.51"))
    assert first_diff(e, dataclasses.replace(e, salary=Decimal("10.5"))) is None
    assert first_diff(e, c) == ("type", "Employee", "Customer")

    print(f"selftest ok: {len(objs)} objects, python and rust-like forms")
    return 0


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def cmd_generate(seed: int, count: int) -> int:
    out = sys.stdout
    for obj in generate(seed, count):
        out.write(encode(obj))
        out.write("\n")
    out.flush()
    return 0


def cmd_verify(seed: int, count: int) -> int:
    data = sys.stdin.buffer.read().decode("utf-8")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # trailing newline
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    if len(lines) != count:
        print(f"verify: expected {count} lines, got {len(lines)}", file=sys.stderr)
        return 1
    expected = generate(seed, count)
    for i, (line, exp) in enumerate(zip(lines, expected)):
        try:
            got = decode(line)
        except (DecodeError, ValueError, TypeError) as err:
            print(f"verify: line {i} (index {i}): decode error: {err}", file=sys.stderr)
            print(f"  line: {line}", file=sys.stderr)
            return 1
        diff = first_diff(exp, got)
        if diff is not None or got != exp:
            path, e, g = diff if diff else ("<unknown>", exp, got)
            print(f"verify: mismatch at index {i}, field {path}", file=sys.stderr)
            print(f"  expected: {e!r}", file=sys.stderr)
            print(f"  got:      {g!r}", file=sys.stderr)
            print(f"  line: {line}", file=sys.stderr)
            return 1
    print(f"verified {count} objects")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("generate", "verify"):
        p = sub.add_parser(name)
        p.add_argument("--seed", type=int, required=True)
        p.add_argument("--count", type=int, required=True)
    sub.add_parser("selftest")
    args = ap.parse_args(argv)
    if args.cmd == "generate":
        return cmd_generate(args.seed, args.count)
    if args.cmd == "verify":
        return cmd_verify(args.seed, args.count)
    return selftest()


if __name__ == "__main__":
    sys.exit(main())
