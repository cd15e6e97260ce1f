"""`/openapi.json` states the rules a peer must follow, as the server enforces them.

Before, the document left out the IIN and phone shapes and that a refusal needs a
ground and a reason, so a client built from it (or schemathesis) sent requests the
server refused. The fuzzing in `test_api_fuzz.py` checks answers; this checks that the
stated rules are there and agree with the validators.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs  # schemathesis' validator, installed with it
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.domain.identifiers import normalize_kz_mobile
from bot.runtime import Services
from tests.conftest import Database

Client = TestClient[web.Request, web.Application]


async def served(api: Client) -> dict[str, Any]:
    response = await api.get("/openapi.json")
    assert response.status == 200
    document: dict[str, Any] = await response.json()
    return document


def component(document: dict[str, Any], name: str) -> dict[str, Any]:
    """A component schema, resolvable on its own (its `$ref`s point into `document`)."""
    return {**document["components"]["schemas"][name], "components": document["components"]}


async def test_openapi_states_identifier_and_phone_shapes(
    database: Database, services: Services, api: Client
) -> None:
    schemas = (await served(api))["components"]["schemas"]

    iin = schemas["Child"]["properties"]["iin"]
    phone = schemas["Guardian"]["properties"]["phone"]
    assert iin["pattern"] == "^[0-9]{12}$"
    assert schemas["SchoolRef"]["properties"]["bin"]["pattern"] == "^[0-9]{12}$"
    for spelling in ["+7 701 123 45 67", "8 (701) 123-45-67", "77011234567", "7011234567"]:
        assert normalize_kz_mobile(spelling) is not None
        assert re.fullmatch(phone["pattern"], spelling), spelling
    for refused in ["+7 701 ABC 45 67", "+7 701 123 45 67 890", "7 + 701 123 45 67"]:
        assert normalize_kz_mobile(refused) is None
        assert re.fullmatch(phone["pattern"], refused) is None, refused


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"decision": "accepted"}, True),
        ({"decision": "refused", "ground": 2, "reason": "Неполный пакет документов"}, True),
        ({"decision": "refused"}, False),
        ({"decision": "refused", "ground": 2}, False),
        ({"decision": "accepted", "ground": 2}, False),
        ({"decision": "accepted", "reason": "Документы в порядке"}, False),
        ({"decision": "refused", "ground": "1", "reason": "Неполный пакет"}, False),
    ],
)
async def test_openapi_decision_schema_states_the_conditional_requirement(
    database: Database, services: Services, api: Client, body: dict[str, Any], valid: bool
) -> None:
    schema = component(await served(api), "DecisionRequest")
    errors = list(jsonschema_rs.Draft202012Validator(schema).iter_errors(body))

    assert (errors == []) is valid, [e.message for e in errors]
