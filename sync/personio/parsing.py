"""Personio v1 answers -> values the sync uses: envelopes, pages, tokens, `Employee`. Pure: no I/O.

Personio wraps every attribute as `{"label", "value", "type", "universal_id"}` (older accounts send
only `label` and `value`), uses `""` where it means null, nests supervisor as a short Employee and
office/department/team as `{"type", "attributes": {"id", "name"}}`. Parsing is tolerant of all of
that; only a record whose id cannot be read is refused (`UnreadableRecord`), and the client reports
it as a skipped record instead of failing the run. An answer that cannot be read as a whole raises
`MalformedResponse`, which the client refetches once.

Every text value loses its control characters (C0, DEL, C1) and the bidi override and isolate
characters before anything else sees it: PostgreSQL refuses NUL in text, and an override makes
`RTL\u202egpj.exe` show as `RTLexe.jpg`. Tabs and line breaks become a space. A record that lost
some is kept and gets a warning; an email that held any is made invalid (see `_email`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from sync.core.employees import Employee, OrgUnit, SkippedRecord
from sync.core.errors import MISSING_ATTRIBUTE, SyncError

DEFAULT_TOKEN_SECONDS = 86400.0  # Personio's documented token lifetime when `expires_in` is absent

# The labels Personio shows for the attributes the sync uses, for messages a person reads.
ATTRIBUTE_LABELS: Mapping[str, str] = {
    "id": "ID",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "status": "Status",
    "position": "Position",
    "supervisor": "Supervisor",
    "department": "Department",
    "team": "Team",
    "office": "Office",
    "employment_type": "Employment type",
}


@dataclass(frozen=True)
class EmployeesPage:
    """One `company/employees` answer: its raw `data[]` items and the counts around them."""

    records: list[Any]
    total: int  # metadata.total_elements
    limit: int | None  # the page size Personio says it used
    # SHA-256 of the answer as it came (`read_employees_page`): a listing whose every page is the
    # same, byte for byte, as at an earlier fetch returned the same employees.
    digest: bytes = b""


class MalformedResponse(ValueError):
    """An answer that cannot be read (bad JSON, no `data` list, `success: false`, no token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnreadableRecord(ValueError):
    """A record the sync cannot use at all (no readable id). `reason` is for the run's warnings."""

    def __init__(self, reason: str, personio_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.personio_id = personio_id


def attribute_label(key: str) -> str:
    """The label Personio shows for an attribute key; the key itself for one we do not know."""
    return ATTRIBUTE_LABELS.get(key, key)


def parse_employee(attributes: Mapping[str, Any]) -> Employee:
    """One `data[].attributes` mapping -> Employee.

    Raises UnreadableRecord when the id is absent or not an integer/string id.
    """
    return _read_employee(attributes, None)


def _read_employee(attributes: Mapping[str, Any], removed: list[str] | None) -> Employee:
    """parse_employee; each text that lost control characters is appended to `removed`.

    Runs once per employee per run (100,000 times for a large company): the usual shape of each
    attribute (an object whose value is printable text) is read inline, everything else by the
    general readers below, so both give the same values.
    """
    personio_id = _id(_value(attributes.get("id")), removed)
    if personio_id is None:
        raise UnreadableRecord("Personio sent an employee record without a readable id.")
    status = _field_text(attributes, "status", removed)
    employment_type = _field_text(attributes, "employment_type", removed)
    return Employee(
        personio_id,
        _field_text(attributes, "first_name", removed) or "",
        _field_text(attributes, "last_name", removed) or "",
        _email(_value(attributes.get("email"))),
        None if status is None else status.lower(),
        _field_text(attributes, "position", removed),
        _supervisor_id(_value(attributes.get("supervisor")), removed),
        _field_unit(attributes, "department", removed),
        _field_unit(attributes, "team", removed),
        _field_unit(attributes, "office", removed),
        None if employment_type is None else employment_type.lower(),
    )


def _field_text(attributes: Mapping[str, Any], key: str, removed: list[str] | None) -> str | None:
    """`_text(_value(attributes.get(key)))`, with the common case (printable text) inline."""
    value = attributes.get(key)
    if type(value) is dict and "value" in value:
        value = value["value"]
        if type(value) is str and value.isprintable():
            return value.strip() or None
        return _text(value, removed)
    return _text(_value(value), removed)


def _field_unit(attributes: Mapping[str, Any], key: str, removed: list[str] | None) -> OrgUnit | None:
    """`_org_unit(_value(attributes.get(key)))`, with the common case (`{"value": null}`) inline."""
    value = attributes.get(key)
    if type(value) is dict and "value" in value:
        inner = value["value"]
        return None if inner is None else _org_unit(inner, removed)
    return _org_unit(_value(value), removed)


def record_id(record: object) -> str | None:
    """The id of a raw `data[]` item, or None when it cannot be read (used for duplicate checks)."""
    attributes = record_attributes(record)
    return None if attributes is None else _id(_value(attributes.get("id")))


# Records come from json.loads, so every JSON object is a dict: checking for dict (not the
# Mapping ABC, which is several times slower) matters at 100,000 employees x 10 attributes.


def record_attributes(record: object) -> Mapping[str, Any] | None:
    """The `attributes` mapping of a raw `data[]` item (`type` may be absent), or None."""
    if not isinstance(record, dict):
        return None
    attributes = record.get("attributes")
    return attributes if isinstance(attributes, dict) else None


def _value(attribute: object) -> object:
    """The value of an attribute object; plain values (as nested org units hold them) pass through."""
    if isinstance(attribute, dict) and "value" in attribute:
        return attribute["value"]
    return attribute


# Tab, line feed, vertical tab, form feed, carriage return: a space. Names and emails never need them.
_BREAKS = "\t\n\x0b\x0c\r"
# The rest of C0, DEL, C1, and the bidi embeddings/overrides (U+202A-202E) and isolates (U+2066-2069).
_CONTROLS = "".join(
    [
        *(chr(c) for c in range(0x20) if chr(c) not in _BREAKS),
        *(chr(c) for c in range(0x7F, 0xA0)),
        *(chr(c) for c in range(0x202A, 0x202F)),
        *(chr(c) for c in range(0x2066, 0x206A)),
    ]
)
_CLEAN = str.maketrans({**dict.fromkeys(_BREAKS, " "), **dict.fromkeys(_CONTROLS)})
_BLANK = str.maketrans(dict.fromkeys(_BREAKS + _CONTROLS, " "))


def _clean(text: str, removed: list[str] | None = None) -> str:
    """`text` without control and bidi characters, tabs and line breaks as a space, stripped.

    When that removed more than surrounding whitespace, `text` is appended to `removed`.
    """
    # isprintable() is false for every character removed here (and for a few kept, such as a
    # no-break space): a fast test first, as almost no value holds any of them.
    if text.isprintable():
        return text.strip()
    cleaned = text.translate(_CLEAN).strip()
    if removed is not None and cleaned != text.strip():
        removed.append(text)
    return cleaned


_EXACT_FLOAT_INTEGER = 2**53  # every integer up to here is exactly a float; beyond, digits may be lost


def _id(value: object, removed: list[str] | None = None) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_FLOAT_INTEGER:
        return str(int(value))
    if isinstance(value, str):
        return _clean(value, removed) or None
    return None


def _text(value: object, removed: list[str] | None = None) -> str | None:
    """A stripped string without control characters; None for null, "" and values that are not
    text or numbers."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    return _clean(value, removed) or None


def _lower(value: object, removed: list[str] | None = None) -> str | None:
    text = _text(value, removed)
    return None if text is None else text.lower()


def _email(value: object) -> str | None:
    # Personio stores what HR typed: " Anna.Berg@Example.com " is anna.berg@example.com.
    # An address with a control character inside is not the one HR meant, and removing it could
    # make someone else's. Each becomes a space instead, so the rules skip the employee as having
    # an invalid email, with their usual warning, and leave an existing user as it is.
    if type(value) is str and value.isprintable():  # the usual case, read inline
        return value.strip().lower() or None
    if isinstance(value, str) and not value.isprintable():
        address = value.strip()
        if any(char in _BREAKS or char in _CONTROLS for char in address):
            return address.translate(_BLANK).lower()
    text = _text(value)
    return None if text is None else text.lower()


def _supervisor_id(value: object, removed: list[str] | None = None) -> str | None:
    """Supervisor as a nested short Employee (`{"type", "attributes": {"id": {...}}}`), a bare id, or null."""
    if isinstance(value, dict):
        attributes = value.get("attributes")
        if isinstance(attributes, dict):
            return _id(_value(attributes.get("id")), removed)
        return _id(_value(value.get("id")), removed)
    return _id(value, removed)


def _org_unit(value: object, removed: list[str] | None = None) -> OrgUnit | None:
    """`{"type": "Office", "attributes": {"id": 1, "name": "Munich"}}` -> OrgUnit("1", "Munich").

    null, "" and a unit without a readable id -> None.
    """
    if not isinstance(value, dict):
        return None
    attributes = value.get("attributes")
    fields = attributes if isinstance(attributes, dict) else value
    raw_id = _value(fields.get("id"))
    unit_id = str(raw_id) if type(raw_id) is int else _id(raw_id, removed)
    if unit_id is None:
        return None
    name = _value(fields.get("name"))
    if type(name) is str and name.isprintable():
        return OrgUnit(unit_id, name.strip())
    return OrgUnit(unit_id, _text(name, removed) or "")


# -- whole answers ---------------------------------------------------------------------------


def decode_json(content: bytes) -> Any:
    """The JSON of a body. Raises MalformedResponse (a body cut off halfway is not JSON either).

    orjson decodes a page faster than the standard library, but refuses a few things the standard
    library takes (a lone surrogate escape, NaN): such an answer is decoded by the standard library,
    so that one odd value never fails a page. orjson reads an integer beyond 64 bits as a float:
    `_id` refuses a float id that is not exactly an integer (so no id ever loses digits), and a
    count must be an integer (`_count`).
    """
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(content)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        raise MalformedResponse("the answer is not valid JSON; it may have been cut off") from None


def error_message(content: bytes) -> str:
    """`error.message` of Personio's v1 error envelope `{"success": false, "error": {...}}`, else ""."""
    try:
        return _error_text(json.loads(content))
    except ValueError:
        return ""


def says_authorization_invalid(content: bytes) -> bool:
    """Whether an error answer is Personio's 403 for a token it does not (or no longer) accept:
    `{"error": {"code": 403, "message": "Provided authorization is not valid"}}`. A 403 for a
    credential without read access says `...forbidden.http.exception` instead."""
    return "authorization is not valid" in error_message(content).casefold()


def parse_auth_answer(payload: Any) -> tuple[str, float]:
    """`{"success": true, "data": {"token", "expires_in"}}` -> (token, seconds it lives).

    Raises MalformedResponse without a token.
    """
    data = _envelope(payload).get("data")
    if not isinstance(data, Mapping):
        raise MalformedResponse("the sign-in answer holds no token")
    token = data.get("token")
    if not isinstance(token, str) or not token.strip():
        raise MalformedResponse("the sign-in answer holds no token")
    expires_in = data.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        expires_in = DEFAULT_TOKEN_SECONDS
    return token.strip(), float(expires_in)


def read_auth_answer(content: bytes) -> tuple[str, float]:
    """`parse_auth_answer` of a raw sign-in answer."""
    return parse_auth_answer(decode_json(content))


def read_employees_page(content: bytes) -> EmployeesPage:
    """`parse_employees_page` of a raw answer, with the answer's SHA-256 (`EmployeesPage.digest`)."""
    page = parse_employees_page(decode_json(content))
    return replace(page, digest=hashlib.sha256(content).digest())


def parse_employees_page(payload: Any) -> EmployeesPage:
    """One `company/employees` envelope. Raises MalformedResponse without a `data` list or a total."""
    envelope = _envelope(payload)
    data = envelope.get("data")
    if not isinstance(data, list):
        raise MalformedResponse("the answer has no data list")
    metadata = envelope.get("metadata")
    total = _count(metadata.get("total_elements")) if isinstance(metadata, Mapping) else None
    if total is None:
        raise MalformedResponse("the answer has no metadata.total_elements")
    return EmployeesPage(records=data, total=total, limit=_count(envelope.get("limit")))


def parse_records(records: Iterable[Any]) -> tuple[list[Employee], list[SkippedRecord], frozenset[str]]:
    """Raw `data[]` items -> (employees, skipped records and warnings, attribute keys seen in at least
    one record). A record whose text lost control characters is kept, with a warning."""
    employees: list[Employee] = []
    skipped: list[SkippedRecord] = []
    present: set[str] = set()
    for record in records:
        attributes = record_attributes(record)
        if attributes is None:
            skipped.append(SkippedRecord(None, "Personio sent an employee record without attributes."))
            continue
        present.update(attributes)  # JSON object keys are strings
        removed: list[str] = []
        try:
            employees.append(_read_employee(attributes, removed))
        except UnreadableRecord as bad:
            skipped.append(SkippedRecord(bad.personio_id, bad.reason))
            continue
        if removed:
            skipped.append(
                SkippedRecord(
                    employees[-1].personio_id,
                    "Personio's record held control characters (such as NUL or text-direction "
                    "overrides); they were removed.",
                )
            )
    return employees, skipped, frozenset(present)


def check_required(required: Sequence[str], present: Iterable[str]) -> None:
    """Raises SyncError(missing_attribute) naming each `required` key absent from `present`.

    Personio silently leaves out attributes a credential may not read, so absent from every record
    means "not allowed", and the hint says where in Personio to allow it.
    """
    seen = set(present)
    missing = [key for key in required if key not in seen]
    if not missing:
        return
    quoted = ", ".join(f"'{attribute_label(key)}'" for key in missing)
    noun = "attribute" if len(missing) == 1 else "attributes"
    raise SyncError(
        MISSING_ATTRIBUTE,
        f"Personio does not return the {noun} {quoted} to these API credentials.",
        "In Personio: Settings > Integrations > API credentials > (your credential) > Readable employee "
        f"attributes: enable {quoted}. Then save the credential and run the Test again.",
    )


def _envelope(payload: Any) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise MalformedResponse("the answer is not a JSON object")
    if payload.get("success") is False:
        message = _error_text(payload)
        raise MalformedResponse(
            f"it says success: false ({message})" if message else "it says success: false"
        )
    return payload


def _error_text(payload: Any) -> str:
    error = payload.get("error") if isinstance(payload, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    return message if isinstance(message, str) else ""


def _count(value: object) -> int | None:
    """A count as Personio sends it: a non-negative integer, sometimes as a digit string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
