"""OpenAPI 3.1 description of the HTTP contract, built from the same pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bot.signals import VkkSignal
from handlers.http.schemas import (
    CaseAnswer,
    DecisionAnswer,
    DecisionRequest,
    ErrorAnswer,
    HealthAnswer,
    IntakeAnswer,
    ReadyAnswer,
    ValidationErrorAnswer,
)

_SIGNED: list[dict[str, list[str]]] = [{"hmacSignature": [], "hmacTimestamp": []}]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _answer(description: str, model: type[BaseModel]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "the body is not valid JSON, or not one reading of it, or arrived incomplete",
        401: "missing, wrong or stale signature",
        404: "unknown case or signal",
        408: "the body was not received within 10 s",
        409: "conflicts with what already happened",
        413: "the body is larger than 64 KiB",
        415: "the body is not application/json",
    }
    answers: dict[str, Any] = {str(code): _answer(texts[code], ErrorAnswer) for code in codes}
    return answers


def _signal_operations() -> dict[str, Any]:
    path_param = {"name": "signal_id", "in": "path", "required": True, "schema": {"type": "string"}}
    case_param = {"name": "case_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/api/v1/signals/vkk": {
            "post": {
                "summary": "Accept a VKK home-schooling recommendation",
                "security": _SIGNED,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(VkkSignal)}},
                },
                "responses": {
                    "202": _answer("a new case was opened", IntakeAnswer),
                    "200": _answer("an identical re-send; the same case", IntakeAnswer),
                    "422": _answer("invalid fields", ValidationErrorAnswer),
                    **_errors(400, 401, 408, 409, 413, 415),
                },
            }
        },
        "/api/v1/signals/vkk/{signal_id}/revocation": {
            "post": {
                "summary": "Withdraw a conclusion; the case is cancelled unless decided",
                "security": _SIGNED,
                "parameters": [path_param],
                "responses": {
                    "200": _answer("the case is cancelled", IntakeAnswer),
                    **_errors(400, 401, 404, 408, 409, 413),
                },
            }
        },
        "/api/v1/cases/{case_id}": {
            "get": {
                "summary": "Status and milestones of a case (no personal data)",
                "security": _SIGNED,
                "parameters": [case_param],
                "responses": {
                    "200": _answer("the case", CaseAnswer),
                    **_errors(400, 401, 404, 408, 413),
                },
            }
        },
    }


def _decision_operations() -> dict[str, Any]:
    case_param = {"name": "case_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/api/v1/cases/{case_id}/decision": {
            "post": {
                "summary": "The school accepts or refuses (one of the three legal grounds)",
                "description": (
                    "A first refusal is a preliminary decision: status `hearing` and "
                    "`hearing_until`. The final decision (accepted, or refused with a ground "
                    "and reason that may differ) is a second POST once the guardian has "
                    "answered or `hearing_until` has passed; earlier it is "
                    '409 `{"error": "hearing_open"}`; a decided case is 409 as well.'
                ),
                "security": [{"schoolApiKey": []}],
                "parameters": [case_param],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(DecisionRequest)}},
                },
                "responses": {
                    "200": _answer(
                        "the decision (or the preliminary refusal) is recorded and sent to the "
                        "guardian",
                        DecisionAnswer,
                    ),
                    "422": _answer("invalid fields", ValidationErrorAnswer),
                    **_errors(400, 401, 404, 408, 409, 413, 415),
                },
            }
        }
    }


def _ops_operations() -> dict[str, Any]:
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "responses": {"200": _answer("the process is up", HealthAnswer)},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: the database answers",
                "responses": {
                    "200": _answer("ready", ReadyAnswer),
                    "503": _answer("the database is unreachable", ReadyAnswer),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format)",
                "responses": {"200": {"description": "metrics", "content": text}},
            }
        },
    }


def build_openapi() -> dict[str, Any]:
    """Return the OpenAPI document; models are the single source of the schemas."""
    models: list[type[BaseModel]] = [
        VkkSignal,
        IntakeAnswer,
        CaseAnswer,
        DecisionRequest,
        DecisionAnswer,
        ErrorAnswer,
        ValidationErrorAnswer,
        HealthAnswer,
        ReadyAnswer,
    ]
    _, top = models_json_schema(
        [(model, "validation") for model in models],
        ref_template="#/components/schemas/{model}",
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "homeschool-bot API",
            "version": "1",
            "description": "Proactive channel for home schooling (order No. 223).",
        },
        "paths": {**_signal_operations(), **_decision_operations(), **_ops_operations()},
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {
                "hmacSignature": {"type": "apiKey", "in": "header", "name": "X-Signature"},
                "schoolApiKey": {"type": "http", "scheme": "bearer"},
                "hmacTimestamp": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Signature-Timestamp",
                },
            },
        },
    }
