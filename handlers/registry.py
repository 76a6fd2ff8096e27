"""The functions a diagram may call, registered by name.

Two kinds:
- *service handlers*, run by a BPMN service task that names them in its
  ``camunda:properties`` (``handler=<name>``). Signature:
  ``handler(data: dict, ctx: HandlerContext) -> dict | None``; the returned dict
  is merged into the task data.
- *expression helpers*, plain functions that gateway conditions, script tasks and
  timer expressions may call (e.g. ``add_working_days``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

ServiceHandler = Callable[[dict, "HandlerContext"], dict | None]

_SERVICE_HANDLERS: dict[str, ServiceHandler] = {}
_EXPRESSION_HELPERS: dict[str, Callable[..., Any]] = {}


class ExamServices(Protocol):
    """What a handler may do to the exam it runs in, within the step's transaction.

    Implemented in ``processes/`` (handlers must not import the core: dependencies point down).
    """

    def participants(self) -> dict[str, int]: ...

    def lock_assignment(self) -> bool | None:
        """Locks the content (R14); true when the assignment is established in the school's bank (R16)."""

    def unlock_assignment(self) -> None: ...

    def establish_assignment(self) -> None: ...

    def lock_evidence(self) -> None:
        """R23: the evidence is complete; from now on nothing is added or withdrawn."""

    def warn(self, code: str, message: str) -> None: ...

    def record_result(self) -> dict: ...

    def start_follow_up(self, note: str) -> int: ...

    def archive(self) -> None: ...


class StepRefused(Exception):
    """A handler's verdict that the step may not go on (the user can fix it): a 4xx, not a failure."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class HandlerContext:
    """What a service handler may know about the step it runs in."""

    instance_id: int | None
    school_id: int | None
    element_id: str
    settings: dict = field(default_factory=dict)
    exam: ExamServices | None = None


class UnknownHandler(LookupError):
    pass


def service_handler(name: str) -> Callable[[ServiceHandler], ServiceHandler]:
    def register(fn: ServiceHandler) -> ServiceHandler:
        _SERVICE_HANDLERS[name] = fn
        return fn

    return register


def expression_helper(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _EXPRESSION_HELPERS[name] = fn
        return fn

    return register


def get_service_handler(name: str) -> ServiceHandler:
    _load_builtin()
    try:
        return _SERVICE_HANDLERS[name]
    except KeyError:
        raise UnknownHandler(name) from None


def service_handler_names() -> set[str]:
    _load_builtin()
    return set(_SERVICE_HANDLERS)


def expression_helpers() -> dict[str, Callable[..., Any]]:
    _load_builtin()
    return dict(_EXPRESSION_HELPERS)


def _load_builtin() -> None:
    # Importing the modules registers their handlers.
    from handlers import builtin, exam_requests, exams  # noqa: F401
