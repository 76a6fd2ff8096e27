"""SpiffWorkflow extension points of the engine: what `processes.engine.Engine` plugs into its
parser and serializer.

The design decisions they carry out (shared/design.md): 3 (the serializer writes a workflow
without its spec), 6 (timers follow the app's clock), 8b (service tasks run registered handlers)
and 10 (Camunda 7 flavour: camunda:properties are read on service tasks and events too). Only
`processes.engine` uses this module; import the public names from there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent, IntermediateCatchEvent, ServiceTask, StartEvent
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import (
    CamundaBoundaryEventParser,
    CamundaIntermediateCatchEventParser,
    CamundaStartEventParser,
)
from SpiffWorkflow.camunda.parser.task_spec import CamundaTaskParser
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.task import Task

from handlers import clock

# Set by `Engine.run` on a service task just before SpiffWorkflow runs it; see HandlerServiceTask.
_HANDLER_DONE = "examenflow_handler_done"


# ----------------------------------------------------------------------------- service tasks (8b)


class HandlerServiceTask(ServiceTask):
    """A ``bpmn:serviceTask`` whose ``camunda:properties`` name a handler (``handler=...``).

    The handler itself runs in `Engine.run`, which knows the step's HandlerContext; a spec is
    shared between instances and threads, so it cannot hold one. The spec only refuses to pass
    when the handler did not run, so that a plain ``do_engine_steps()`` elsewhere cannot skip it.
    """

    @property
    def handler_name(self) -> str | None:
        return getattr(self, "extensions", {}).get("handler")

    def _run_hook(self, my_task: Task) -> bool:
        if not my_task.internal_data.pop(_HANDLER_DONE, False):
            raise RuntimeError(f"Service task {self.bpmn_id} ran without its handler; use Engine.run.")
        return True


# ----------------------------------------------------------------------------- timers (6)

# SpiffWorkflow's timer definitions read ``datetime.now(timezone.utc)`` themselves; these read
# `handlers.clock.now()`, so that `use_clock` (tests, ``scheduler --once --now``) moves them too.
# They also fire *at* the due time (SpiffWorkflow: only strictly after it) and refuse a due time
# without a UTC offset, which SpiffWorkflow would read in the server's local zone (decision 7).


def _due(value: object, task: Task) -> datetime:
    """A date or duration timer's due time as it stores it (ISO 8601 with an offset), in UTC."""
    where = f"Timer {task.task_spec.bpmn_id}"
    if not isinstance(value, str):
        raise ValueError(f"{where}: de expressie gaf {value!r}; verwacht een ISO 8601-tijdstip met tijdzone")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{where}: '{value}' is geen ISO 8601-tijdstip; schrijf bijvoorbeeld 2026-05-07T09:00:00+02:00"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(
            f"{where}: '{value}' is een tijdstip zonder tijdzone (no UTC offset); schrijf bijvoorbeeld "
            "2026-05-07T09:00:00+02:00"
        )
    return moment.astimezone(UTC)


class ClockTimeDateEventDefinition(TimeDateEventDefinition):
    """``timeDate``: the expression gives the due time, evaluated once when the timer starts waiting."""

    def has_fired(self, my_task: Task) -> bool:
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            event_value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            _due(event_value, my_task)  # refuse it now, not at every refresh
            my_task._set_internal_data(event_value=event_value)
        if _due(event_value, my_task) <= clock.now():
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class ClockDurationTimerEventDefinition(DurationTimerEventDefinition):
    """``timeDuration``: due the duration after the clock's now when the timer starts waiting."""

    def has_fired(self, my_task: Task) -> bool:
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            start = clock.now()
            duration = TimerEventDefinition.get_timedelta_from_start(
                TimerEventDefinition.parse_iso_duration(expression), start
            )
            event_value = (start + duration).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if _due(event_value, my_task) <= clock.now():
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


def _recurring_interval(expression: str) -> tuple[int, datetime, object]:
    components = expression.upper().replace("--", "/").strip("R").split("/")
    if len(components) == 2 and components[1].startswith("P"):
        # Only a bare interval (R3/PT1H) counts from now; SpiffWorkflow's parser would read its clock.
        start = clock.now()
        duration = TimerEventDefinition.get_timedelta_from_start(
            TimerEventDefinition.parse_iso_duration(components[1]), start
        )
        return (int(components[0]) if components[0] else -1), start + duration, duration
    return TimerEventDefinition.parse_iso_recurring_interval(expression)


class ClockCycleTimerEventDefinition(CycleTimerEventDefinition):
    """``timeCycle``: as SpiffWorkflow's (``{cycles, next, duration}`` in ``event_value``), on our clock."""

    def cycle_complete(self, my_task: Task) -> bool:
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            cycles, start, duration = _recurring_interval(expression)
            event_value = {"cycles": cycles, "next": start.isoformat(), "duration": duration.total_seconds()}
        ready = False
        if event_value["cycles"] != 0:
            next_event = datetime.fromisoformat(event_value["next"])
            if next_event <= clock.now():
                event_value["next"] = (next_event + timedelta(seconds=event_value["duration"])).isoformat()
                event_value["cycles"] -= 1
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
        my_task._set_internal_data(event_value=event_value)
        return ready


_CLOCK_TIMERS: dict[type, type[TimerEventDefinition]] = {
    TimeDateEventDefinition: ClockTimeDateEventDefinition,
    DurationTimerEventDefinition: ClockDurationTimerEventDefinition,
    CycleTimerEventDefinition: ClockCycleTimerEventDefinition,
}


class _ClockTimerParsing:
    """Mixed into the Camunda event parsers: a ``timerEventDefinition`` becomes a clock timer."""

    def parse_timer_event(self, event):
        definition = super().parse_timer_event(event)  # type: ignore[misc]
        return _CLOCK_TIMERS[type(definition)](
            definition.name, definition.expression, description=definition.description
        )


class _EventProperties:
    """Mixed into the Camunda event parsers: an event's ``camunda:properties`` (``deadline=...``)
    become its `extensions`, as CamundaTaskParser does for tasks; the stock event parsers drop them."""

    def parse_extensions(self, node=None):
        return CamundaTaskParser.parse_extensions(self, node)  # type: ignore[arg-type]


class _StartEventParser(_EventProperties, _ClockTimerParsing, CamundaStartEventParser):
    pass


class _IntermediateCatchEventParser(_EventProperties, _ClockTimerParsing, CamundaIntermediateCatchEventParser):
    pass


class _BoundaryEventParser(_EventProperties, _ClockTimerParsing, CamundaBoundaryEventParser):
    pass


class _ClockTimerConverter(TimerConditionalEventDefinitionConverter):
    """Writes a clock timer under SpiffWorkflow's own typename (``TimeDateEventDefinition``, ...).

    Registered after CAMUNDA_CONFIG's converters, so restoring that typename gives the clock timer:
    specs and states saved before this existed follow the clock too, and the JSON stays readable
    by a plain SpiffWorkflow.
    """

    def __init__(self, target_class, registry, typename=None):
        spiff_class = next(base for base, ours in _CLOCK_TIMERS.items() if ours is target_class)
        super().__init__(target_class, registry, typename or spiff_class.__name__)


class _ExamenflowParser(CamundaParser):
    # CamundaTaskParser reads camunda:properties into `extensions`; the default serviceTask parser
    # of the Camunda flavour does not.
    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (CamundaTaskParser, HandlerServiceTask),
        # Timers on the app's clock (design decision 6).
        full_tag("startEvent"): (_StartEventParser, StartEvent),
        full_tag("intermediateCatchEvent"): (_IntermediateCatchEventParser, IntermediateCatchEvent),
        full_tag("boundaryEvent"): (_BoundaryEventParser, BoundaryEvent),
    }


# ----------------------------------------------------------------------------- serializer (3)


class _SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    """Writes a workflow without ``spec`` and ``subprocess_specs`` (design decision 3).

    Loading goes through the inherited `from_dict`: `Engine.load` puts the cached spec objects
    into the dict, and the registry passes objects it does not know through unchanged.
    """

    def to_dict(self, workflow: BpmnWorkflow) -> dict:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


def serializer_config(embed_specs: bool = False) -> dict:
    """The serializer configuration matching the parser; ``embed_specs`` gives SpiffWorkflow's own
    full format (spec in every state), useful for exports and for comparing sizes."""
    config = dict(CAMUNDA_CONFIG)
    # The default converter already writes `extensions`; without a registration at all the
    # workflow does not serialize ("HandlerServiceTask is not JSON serializable").
    config[HandlerServiceTask] = BpmnTaskSpecConverter
    # New keys, so registered after the stock timer converters: see _ClockTimerConverter.
    for clock_timer in _CLOCK_TIMERS.values():
        config[clock_timer] = _ClockTimerConverter
    if not embed_specs:
        config[BpmnWorkflow] = _SpecFreeWorkflowConverter
    return config
