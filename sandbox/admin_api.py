"""The sandbox's own control API under `/_admin/`: JSON in and out, no auth, never part of Personio's.

Each function runs with the sandbox lock held. Errors answer `{"error": "<message>"}`.
"""

from __future__ import annotations

import secrets
from typing import Any

from sandbox.company import DEPARTMENT, OFFICE, TEAM
from sandbox.credentials import V2_SCOPES, Credential
from sandbox.events import change_events, delete_events, hire_events, unit_rename_events
from sandbox.faults import FaultError, Faults
from sandbox.personnel import PersonnelError, delete, flat_record, hire, org_units, rename_unit, update
from sandbox.state import SandboxState
from sandbox.webhooks import admin_view
from sandbox.wire import Request, Response, json_response


def admin_error(status: int, message: str) -> Response:
    """An admin API error: `{"error": message}`."""
    return json_response(status, {"error": message})


def _body(request: Request) -> Any:
    """The JSON body; a PersonnelError (400) when it is not JSON."""
    try:
        return request.json()
    except ValueError:
        raise PersonnelError(400, "the body is not valid JSON") from None


def health(state: SandboxState, request: Request) -> Response:
    """`GET /_admin/health`: the server answers."""
    return json_response(200, {"ok": True})


def overview(state: SandboxState, request: Request) -> Response:
    """`GET /_admin/state`: size, seed, company, faults, counters and credentials (without secrets)."""
    return json_response(
        200,
        {
            "employees": state.company.count(),
            "seed": state.config.seed,
            "company": {"name": state.company.name, "domain": state.company.domain},
            "rate_limit": state.config.rate_limit,
            "faults": state.faults.as_dict(),
            "stats": state.stats.as_dict(),
            "credentials": [
                {
                    "client_id": c.client_id,
                    "withheld": sorted(c.withheld),
                    "employees_access": c.employees_access,
                    "scopes": sorted(c.scopes),
                }
                for c in state.credentials.credentials.values()
            ],
        },
    )


def stats(state: SandboxState, request: Request) -> Response:
    """`GET /_admin/stats`."""
    return json_response(200, state.stats.as_dict())


def reset_stats(state: SandboxState, request: Request) -> Response:
    """`POST /_admin/stats/reset`: zero the counters."""
    state.stats = type(state.stats)()
    return json_response(200, state.stats.as_dict())


def reset(state: SandboxState, request: Request) -> Response:
    """`POST /_admin/reset`: regenerate the company and clear faults, counters, added credentials, tokens."""
    state.reset()
    return json_response(200, {"ok": True, "employees": state.company.count()})


def list_employees(state: SandboxState, request: Request) -> Response:
    """`GET /_admin/employees`: every employee as a flat record, by id."""
    company = state.company
    return json_response(200, [flat_record(company, employee) for employee in company.ordered()])


def get_employee(state: SandboxState, request: Request, employee_id: str) -> Response:
    """`GET /_admin/employees/{id}`."""
    employee = state.company.employees.get(int(employee_id))
    if employee is None:
        return admin_error(404, f"employee {employee_id} not found")
    return json_response(200, flat_record(state.company, employee))


def hire_employee(state: SandboxState, request: Request) -> Response:
    """`POST /_admin/employees`: hire; 201 with the new flat record."""
    employee = hire(state.company, _body(request), state.now())
    state.notify(hire_events(employee.id))
    return json_response(201, flat_record(state.company, employee))


def update_employee(state: SandboxState, request: Request, employee_id: str) -> Response:
    """`PATCH /_admin/employees/{id}`: change flat fields (leave, rehire, transfer, new email...)."""
    employee = state.company.employees.get(int(employee_id))
    if employee is None:
        return admin_error(404, f"employee {employee_id} not found")
    before = flat_record(state.company, employee)
    update(state.company, employee, _body(request), state.now())
    after = flat_record(state.company, employee)
    state.notify(change_events(employee.id, before, after))
    return json_response(200, after)


def delete_employee(state: SandboxState, request: Request, employee_id: str) -> Response:
    """`DELETE /_admin/employees/{id}`: the person disappears from Personio's answers."""
    person_id = int(employee_id)
    reports = [e.id for e in state.company.employees.values() if e.supervisor_id == person_id]
    delete(state.company, person_id, state.now())
    state.notify(delete_events(person_id, reports))
    return json_response(200, {"ok": True, "deleted": person_id})


def list_org_units(state: SandboxState, request: Request) -> Response:
    """`GET /_admin/org-units`."""
    return json_response(200, org_units(state.company))


_MEMBER_OF = {DEPARTMENT: "department_id", TEAM: "team_id", OFFICE: "office_id"}


def _renamer(kind: str) -> Any:
    def rename(state: SandboxState, request: Request, unit_id: str) -> Response:
        body = _body(request)
        name = body.get("name") if isinstance(body, dict) else None
        existing = state.company.units[kind].get(int(unit_id))
        old_name = existing.name if existing else None
        unit = rename_unit(state.company, kind, int(unit_id), name)
        if unit.name != old_name:
            attribute = _MEMBER_OF[kind]
            members = [e.id for e in state.company.ordered() if getattr(e, attribute) == unit.id]
            state.notify(unit_rename_events(members))
        return json_response(200, {"id": unit.id, "name": unit.name})

    rename.__doc__ = f'`PATCH /_admin/{kind.lower()}s/{{id}}` with `{{"name": ...}}`: rename.'
    return rename


rename_department = _renamer(DEPARTMENT)
rename_team = _renamer(TEAM)
rename_office = _renamer(OFFICE)


def add_credential(state: SandboxState, request: Request) -> Response:
    """`POST /_admin/credentials` `{client_id?, client_secret?, withheld?: [keys], employees_access?:
    bool, scopes?: [v2 scopes]}`: 201 with the credential; missing id or secret are generated,
    employees_access defaults to true (false: signs in, but every employees request answers 403),
    scopes to every v2 scope."""
    body = _body(request) or {}
    if not isinstance(body, dict):
        return admin_error(422, "the body must be a JSON object")
    client_id = body.get("client_id") or f"papi-{secrets.token_hex(8)}"
    client_secret = body.get("client_secret") or f"papi-{secrets.token_urlsafe(24)}"
    withheld = body.get("withheld") or []
    employees_access = body.get("employees_access", True)
    if not isinstance(client_id, str) or not isinstance(client_secret, str):
        return admin_error(422, "client_id and client_secret must be strings")
    if not isinstance(withheld, list) or not all(isinstance(key, str) for key in withheld):
        return admin_error(422, "withheld must be a list of attribute keys")
    if not isinstance(employees_access, bool):
        return admin_error(422, "employees_access must be true or false")
    scopes = body.get("scopes")
    scopes = sorted(V2_SCOPES) if scopes is None else scopes
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        return admin_error(422, "scopes must be a list of scope names")
    unknown = sorted(set(scopes) - V2_SCOPES)
    if unknown:
        return admin_error(
            422, f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(V2_SCOPES))}"
        )
    credential = Credential(
        client_id, client_secret, frozenset(withheld), employees_access, frozenset(scopes)
    )
    state.credentials.add(credential)
    return json_response(
        201,
        {
            "client_id": client_id,
            "client_secret": client_secret,
            "withheld": sorted(set(withheld)),
            "employees_access": employees_access,
            "scopes": sorted(credential.scopes),
        },
    )


def list_webhooks(state: SandboxState, request: Request) -> Response:
    """`GET /_admin/webhooks`: every registered webhook (no token or header values: `token_set`)."""
    return json_response(200, admin_view(state.webhooks.webhooks))


def get_faults(state: SandboxState, request: Request) -> Response:
    """`GET /_admin/faults`."""
    return json_response(200, state.faults.as_dict())


def set_faults(state: SandboxState, request: Request) -> Response:
    """`PUT /_admin/faults`: switch on (or off) any subset of faults; the rest stay as they are.

    Counted faults take a bare count N (the next N matching requests, -1 until cleared, 0 off) or an
    object `{count, after, ...}`: `rate_limit_storm`, `server_error {status}`, `hang {seconds}`,
    `malformed_json`, `truncated_page`, `total_drift {delta}`, `auth_server_error`, and
    `drip {seconds: 1, forever: false}` (the body one byte every `seconds`; `forever`: then spaces
    at that pace until the fault is cleared or set again), `oversized_page {megabytes: 25}` (a valid
    page padded to that many MB of 1,000,000 bytes), `absurd_total {total: 10**12}` (the page
    reports that `total_elements`). Switches: `empty_result`, `wrong_credentials` (bools),
    `withheld_attributes` (keys), `latency_ms` (int). See sandbox/README.md.
    """
    try:
        state.faults.update(_body(request))
    except FaultError as error:
        return admin_error(422, str(error))
    return json_response(200, state.faults.as_dict())


def clear_faults(state: SandboxState, request: Request) -> Response:
    """`DELETE /_admin/faults`: every fault off."""
    state.faults = Faults()
    return json_response(200, state.faults.as_dict())


def _count(body: dict[str, Any], name: str) -> int:
    value = body.get(name, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PersonnelError(422, f"{name} must be a whole number >= 0")
    return value


def _webhook_faults(state: SandboxState) -> dict[str, int]:
    return {"drop": state.deliverer.drop_next, "duplicate": state.deliverer.duplicate_next}


def list_deliveries(state: SandboxState, request: Request) -> Response:
    """`GET /_admin/deliveries[?webhook_id=&event_name=&status=]`: every delivery, oldest first."""
    filters = {
        name: value for name in ("webhook_id", "event_name", "status") if (value := request.param(name))
    }
    return json_response(200, state.deliverer.listing(**filters))


def clear_deliveries(state: SandboxState, request: Request) -> Response:
    """`DELETE /_admin/deliveries`: forget every delivery; pending ones are not sent."""
    state.deliverer.clear()
    return json_response(200, {"ok": True})


def get_webhook_faults(state: SandboxState, request: Request) -> Response:
    """`GET /_admin/webhook_faults`: `{"drop": N, "duplicate": N}` still to apply."""
    return json_response(200, _webhook_faults(state))


def set_webhook_faults(state: SandboxState, request: Request) -> Response:
    """`PUT /_admin/webhook_faults` `{"drop"?: N, "duplicate"?: N}`: the next N deliveries are never
    sent (drop) or sent twice (duplicate); a drop applies before a duplicate."""
    body = _body(request)
    if not isinstance(body, dict) or set(body) - {"drop", "duplicate"}:
        return admin_error(422, 'the body must be {"drop": N, "duplicate": N}')
    drop, duplicate = _count(body, "drop"), _count(body, "duplicate")
    if "drop" in body:
        state.deliverer.drop_next = drop
    if "duplicate" in body:
        state.deliverer.duplicate_next = duplicate
    return json_response(200, _webhook_faults(state))


def clear_webhook_faults(state: SandboxState, request: Request) -> Response:
    """`DELETE /_admin/webhook_faults`: no more drops or duplicates."""
    state.deliverer.drop_next = state.deliverer.duplicate_next = 0
    return json_response(200, _webhook_faults(state))


def get_webhook_settings(state: SandboxState, request: Request) -> Response:
    """`GET /_admin/webhook_settings`: `{"retry_scale": x}`."""
    return json_response(200, {"retry_scale": state.deliverer.retry_scale})


def set_webhook_settings(state: SandboxState, request: Request) -> Response:
    """`PUT /_admin/webhook_settings` `{"retry_scale": x}`: multiply the delays between delivery
    attempts by x >= 0 (until reset, which restores `--webhook-retry-scale`)."""
    body = _body(request)
    scale = body.get("retry_scale") if isinstance(body, dict) else None
    if not isinstance(scale, int | float) or isinstance(scale, bool) or scale < 0:
        return admin_error(422, "retry_scale must be a number >= 0")
    state.deliverer.retry_scale = float(scale)
    return json_response(200, {"retry_scale": state.deliverer.retry_scale})
