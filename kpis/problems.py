"""``parse_document``: a YAML document validated into a model, its problems in one line naming each key.

The settings, thresholds and targets files all report a bad document the same way, e.g.
``queues.billing.timezone: Value error, unknown IANA time zone 'Mars/Olympus'``.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)
ResultT = TypeVar("ResultT")


class DocumentError(ValueError):
    """A document that cannot be used; the message names the key and the problem."""


def problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors())


def parse_document(document: Any, model: type[ModelT], build: Callable[[ModelT], ResultT]) -> ResultT:
    """``build`` of the validated document; what either step refuses becomes a DocumentError. Reading
    the file is the caller's, so that the core never touches the file system."""
    try:
        return build(model.model_validate(document))
    except ValidationError as exc:
        raise DocumentError(problems(exc)) from exc
    except ValueError as exc:
        raise DocumentError(str(exc)) from exc
