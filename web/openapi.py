"""The API described by its code: one set of pydantic models validates requests and documents them.

Each operation declares its body, query and responses as pydantic models; the same models validate requests
and generate the OpenAPI 3.1 document (``/api/v1/openapi.json``) and the browsable reference
(``/api/v1/docs``).

Why not APIFlask or flask-smorest: both would need a second schema language (marshmallow) beside the
pydantic models the domain's JSON already maps to; pydantic v2 emits JSON Schema 2020-12, which OpenAPI 3.1
uses as is, so one model is both the validator and the documentation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, render_template, request
from pydantic import BaseModel, ValidationError

from web.errors import problem

F = TypeVar("F", bound=Callable[..., Any])

API_VERSION = "1.0.0"


@dataclass
class Operation:
    """One documented API operation."""

    method: str
    rule: str
    summary: str
    tags: tuple[str, ...]
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    responses: dict[int, type[BaseModel] | None]
    scope: str | None
    roles: tuple[str, ...]
    public: bool
    description: str = ""
    endpoint: str = ""
    extra_responses: dict[int, str] = field(default_factory=dict)
    produces: tuple[str, ...] = ()  # media types of a file answer (label PDF/PNG/SVG), instead of JSON


OPERATIONS: list[Operation] = []


def _field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        errors.setdefault(loc, err["msg"])
    return errors


def _gate(view: Callable[..., Any]) -> Response | None:
    """Check the caller before anything else (an anonymous caller learns nothing about the input)."""
    if hasattr(view, "allowed_roles") and hasattr(view, "api_scope"):
        from web.api_auth import check_caller  # noqa: PLC0415 - api_auth's users import this module

        return check_caller(view.api_scope, view.allowed_roles)
    return None


def _parse(body: type[BaseModel] | None, query: type[BaseModel] | None, kwargs: dict[str, Any]) -> Response | None:
    """Validate the body and query into ``kwargs``; a problem response when they do not fit."""
    if body is not None:
        if not request.is_json:
            return problem(415, "Unsupported Media Type",
                           "Nội dung phải là JSON (Content-Type: application/json). / Body must be JSON.")
        try:
            kwargs["body"] = body.model_validate_json(request.get_data(cache=True) or b"null")
        except ValidationError as exc:
            if any(e["type"] in {"json_invalid", "model_type"} for e in exc.errors()):
                return problem(400, "Bad Request", "Nội dung không phải một đối tượng JSON hợp lệ. / "
                               "Body is not a valid JSON object.")
            return problem(422, "Unprocessable Content", "Dữ liệu không hợp lệ. / Invalid fields.",
                           errors=_field_errors(exc))
    if query is not None:
        try:
            kwargs["query"] = query.model_validate(request.args.to_dict())
        except ValidationError as exc:
            return problem(422, "Unprocessable Content", "Tham số không hợp lệ. / Invalid parameters.",
                           errors=_field_errors(exc))
    return None


def operation(
    bp: Blueprint,
    rule: str,
    *,
    method: str,
    summary: str,
    responses: dict[int, type[BaseModel] | None],
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    tags: tuple[str, ...] = (),
    scope: str | None = None,
    roles: tuple[str, ...] = (),
    public: bool = False,
    description: str = "",
    produces: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """Register a JSON API view: validate its body/query with the models, document it in the OpenAPI.

    ``produces`` names the media types of an operation that answers with a file: its success responses
    (declared with ``None`` in ``responses``) are documented as binary content of those types.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            refused = _gate(view) or _parse(body, query, kwargs)
            return refused if refused is not None else view(*args, **kwargs)

        bp.add_url_rule(rule, view_func=wrapped, methods=[method])
        OPERATIONS.append(Operation(
            method=method.lower(), rule=rule, summary=summary, tags=tags, body=body, query=query,
            responses=responses, scope=scope, roles=roles, public=public, description=description,
            endpoint=f"{bp.name}.{view.__name__}", produces=produces,
        ))
        return wrapped  # type: ignore[return-value]

    return decorator


def _openapi_path(rule: str) -> tuple[str, list[str]]:
    """Flask ``/orders/<code>`` → OpenAPI ``/orders/{code}`` and the parameter names."""
    path, params = "", []
    for part in rule.split("/"):
        if part.startswith("<") and part.endswith(">"):
            name = part[1:-1].split(":")[-1]
            params.append(name)
            path += "/{" + name + "}"
        elif part:
            path += "/" + part
    return path or "/", params


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


PROBLEM_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "errors": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["title", "status"],
}


def _operation_entry(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    _path, params = _openapi_path(op.rule)
    entry: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.endpoint.replace(".", "_"),
        "tags": list(op.tags),
        "parameters": [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 100}}
            for p in params
        ],
        "responses": {},
    }
    if op.description:
        entry["description"] = op.description
    if op.query is not None:
        qschema = op.query.model_json_schema()
        required = set(qschema.get("required", []))
        entry["parameters"] += [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in qschema.get("properties", {}).items()
        ]
    if op.body is not None:
        entry["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _schema_ref(op.body, components)}}}
    for status, model in op.responses.items():
        if model is None and op.produces and status < 400:  # noqa: PLR2004 - success statuses carry the file
            entry["responses"][str(status)] = {"description": "OK", "content": {
                media: {"schema": {"type": "string", "format": "binary"}} for media in op.produces}}
        elif model is None:
            entry["responses"][str(status)] = {"description": "OK" if status < 400 else "Error"}  # noqa: PLR2004
        else:
            entry["responses"][str(status)] = {"description": model.__doc__ or model.__name__, "content": {
                "application/json": {"schema": _schema_ref(model, components)}}}
    for status in (400, 401, 403, 404, 415, 422, 429):
        skip = (status in (401, 403) and op.public) or (status == 415 and op.body is None)  # noqa: PLR2004
        if status not in op.responses and not skip:
            entry["responses"][str(status)] = {"description": "Problem", "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if not op.public:
        entry["security"] = [{"bearer": [op.scope] if op.scope else []}, {"staffSession": []}]
    return entry


def openapi_document(base_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every registered operation."""
    components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        path, _params = _openapi_path(op.rule)
        paths.setdefault(path, {})[op.method] = _operation_entry(op, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "DossierPost API",
            "version": API_VERSION,
            "description": "Bưu chính công ích cho hồ sơ hành chính — API cho hệ thống một cửa và Cổng DVC. / "
                           "Public postal service for administrative dossiers: API for one-stop systems.",
        },
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "dp_<prefix>_<secret>"},
                "staffSession": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }


docs_bp = Blueprint("api_docs", __name__)


@docs_bp.get("/api/v1/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI document."""
    from flask import jsonify  # noqa: PLC0415 - keep module import light for the registry users

    from web.context import services  # noqa: PLC0415

    return jsonify(openapi_document(services().settings.public_base_url))


@docs_bp.get("/api/v1/docs")
def docs() -> str:
    """A browsable reference of the API, rendered on the server (works offline, no scripts)."""
    from web.context import services  # noqa: PLC0415

    doc = openapi_document(services().settings.public_base_url)
    return render_template("api_docs.html", doc=doc)


def document(
    bp: Blueprint,
    rule: str,
    *,
    method: str,
    summary: str,
    responses: dict[int, type[BaseModel] | None],
    body: type[BaseModel] | None = None,
    tags: tuple[str, ...] = (),
    description: str = "",
) -> Callable[[F], F]:
    """Document a view that validates its own input (declared on top of ``@api_require`` and ``@bp.route``).

    For operations whose input is checked item by item (a batch of scans where a bad scan must not sink the
    good ones), whole-body validation would be wrong; the model here documents the shape, the view checks it.
    """

    def decorator(view: F) -> F:
        OPERATIONS.append(Operation(
            method=method.lower(), rule=rule, summary=summary, tags=tags, body=body, query=None,
            responses=responses, scope=getattr(view, "api_scope", None),
            roles=tuple(r.value for r in getattr(view, "allowed_roles", ())), public=False,
            description=description, endpoint=f"{bp.name}.{view.__name__}",
        ))
        return view

    return decorator
