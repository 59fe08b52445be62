"""Connexion's, Starlette's, a2wsgi's and Flask's internals this service relies on, each
with the assumption it makes (tests/upstream/test_connexion.py states each one)."""

from __future__ import annotations

import functools
import reprlib
from collections.abc import Callable
from typing import Any

import connexion
from connexion.apps.flask import FlaskOperation
from connexion.decorators import FlaskDecorator
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.validators.parameter import ParameterValidator
from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match
from starlette.types import ASGIApp

WSGIApp = Callable[..., Any]

# The logger Connexion's parameter decorator logs an error to, then serves the request,
# when a query parameter is named like a handler argument but not in the spec (`?name=x`
# beside `name[]`); impl/server/logs.py demotes it.
PARAMETER_LOGGER = "connexion.decorators.parameter"


def serve_flask_with(app: connexion.FlaskApp, bridge: Callable[[WSGIApp], ASGIApp]) -> None:
    """Serve `app`'s Flask app through `bridge(wsgi_app)` in place of a2wsgi, with each
    operation's view decorated once (`_DecoratedOnce`). Assumes FlaskApp keeps its Flask
    side in `_middleware_app`, whose `asgi_app` (a2wsgi's WSGIMiddleware around
    `app.app.wsgi_app`) is what the last middleware calls, and whose `add_api` registers
    the operations' views when the middleware stack is built (after create_app)."""
    flask_side = app._middleware_app
    flask_side.asgi_app = bridge(app.app.wsgi_app)
    register = flask_side.add_api

    def add_api(specification: Any, **options: Any) -> Any:
        api = register(specification, **options)
        _decorate_views_once(app.app)
        return api

    flask_side.add_api = add_api


# --- Connexion's per-request work, done once per operation (impl/server/app.py) ---


class OneLineParameterValidator(ParameterValidator):  # type: ignore[misc]
    """Connexion's parameter validation, whose message for a value the schema refuses is
    one line naming the parameter, as influxd's messages are (`invalid name[]: 'a b' does
    not match '^...$'`; a long value shortened), where Connexion passes on jsonschema's
    multi-line report. Assumes `validate_parameter` returns that report (several lines)
    when jsonschema refuses the value, and a one-line message otherwise."""

    @staticmethod
    def validate_parameter(
        parameter_type: str, value: Any, param: dict[str, Any], param_name: str | None = None
    ) -> str | None:
        message: str | None = ParameterValidator.validate_parameter(
            parameter_type, value, param, param_name
        )
        if message is None or "\n" not in message:
            return message
        error = best_match(Draft4Validator(param.get("schema", param)).iter_errors(value))
        if error is None:
            return message.splitlines()[0]
        text, quoted = error.message, repr(error.instance)
        if text.startswith(quoted):  # jsonschema starts most messages with the value
            text = reprlib.repr(error.instance) + text[len(quoted) :]
        return f"invalid {param.get('name', parameter_type)}: {text}"


class _ValidatedOnce(RequestValidationOperation):  # type: ignore[misc]
    """Connexion's request validation of one operation, with its parameter validator made
    once instead of per request. Assumes RequestValidationOperation.__call__ makes it by
    calling `_validator_map["parameter"]`, and that the operation's `_uri_parser_class`
    makes parsers that keep no state between requests."""

    def __init__(self, next_app: ASGIApp, *, operation: Any, **options: Any) -> None:
        super().__init__(next_app, operation=operation, **options)
        parser = operation._uri_parser_class(operation.parameters, operation.body_definition())
        validator = OneLineParameterValidator(
            operation.parameters,
            uri_parser=parser,
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )
        self._validator_map["parameter"] = lambda *_args, **_options: validator


class _ValidatedOnceAPI(RequestValidationAPI):  # type: ignore[misc]
    def make_operation(self, operation: Any) -> RequestValidationOperation:
        return _ValidatedOnce(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class RequestValidation(RequestValidationMiddleware):  # type: ignore[misc]
    """RequestValidationMiddleware, with each operation's validator made once."""

    api_cls = _ValidatedOnceAPI


class _DecoratedOnce(FlaskDecorator):  # type: ignore[misc]
    """Connexion's Flask decorator, which builds the view's parameter and response
    decorators (inspecting its signature) and a URI parser on every call: here once.
    Assumes `decorate` depends on nothing of the request, and the URI parser on nothing
    but the operation, which is this view's."""

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        decorated: Callable[..., Any] | None = None
        parser: Any = None

        @functools.wraps(function)
        def view(*_args: Any, **_kwargs: Any) -> Any:
            nonlocal decorated, parser
            if decorated is None:
                parser = self.uri_parser
                decorated = self.decorate(function)
            return decorated(self.framework.get_request(uri_parser=parser))

        return view


def _decorate_views_once(flask_app: Any) -> None:
    """Replace each operation's Flask view with one decorated once. Assumes add_api
    registers each operation as a FlaskOperation holding the controller in `_fn`, and
    `pythonic_params` and `jsonifier` for its decorator."""
    views = flask_app.view_functions
    for endpoint, view in list(views.items()):
        if isinstance(view, FlaskOperation):
            decorator = _DecoratedOnce(
                pythonic_params=view.pythonic_params, jsonifier=view.jsonifier
            )
            views[endpoint] = decorator(view._fn)
