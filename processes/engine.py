"""The engine wrapper: parser, serializer and safe script environment of SpiffWorkflow in one object.

Nothing outside this module touches SpiffWorkflow's parser or serializer; the classes it plugs
into them live in `processes.engine_specs`. The design decisions it carries out (shared/design.md):
3 (the spec lives once per deployed version, not in every state), 4 (waiting timers are read from
the event manager), 6 (timers follow the app's clock), 8 (every diagram expression runs in the safe
evaluator and is checked at compile time), 8b (service tasks run registered handlers) and 10
(Camunda 7 flavour, XML parsed defensively, every error reported with its element id).
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from uuid import UUID

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition as CamundaMessageEventDefinition
from SpiffWorkflow.camunda.specs.user_task import UserTask
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from handlers.registry import HandlerContext, expression_helpers, get_service_handler, service_handler_names
from processes.bpmn_validation import (
    BPMN,
    DiagramError,
    ElementError,
    element_errors,
    is_reserved_id,
    missing_flow_nodes,
    parse_xml,
    xsd_errors,
)
from processes.engine_specs import (
    _HANDLER_DONE,
    ClockCycleTimerEventDefinition,
    ClockDurationTimerEventDefinition,
    ClockTimeDateEventDefinition,
    HandlerServiceTask,
    _ExamenflowParser,
    serializer_config,
)
from processes.expressions import make_script_engine

__all__ = [
    "ClockCycleTimerEventDefinition",
    "ClockDurationTimerEventDefinition",
    "ClockTimeDateEventDefinition",
    "CompiledProcess",
    "DeadlineWindow",
    "DiagramError",
    "ElementError",
    "Engine",
    "HandlerServiceTask",
    "IncompatibleState",
    "MigrationCheck",
    "ReadyTask",
    "TaskNotReady",
    "UserTaskDef",
    "WaitingTimer",
    "default_engine",
    "serializer_config",
]

log = logging.getLogger(__name__)

VERSION_KEY = BpmnWorkflowSerializer.VERSION_KEY


class TaskNotReady(LookupError):
    """The task is not open (any more): done by someone else, cancelled, or never existed."""

    def __init__(self, guid: str):
        super().__init__(f"Taak {guid} staat niet (meer) open.")
        self.guid = guid


class IncompatibleState(ValueError):
    """A state or spec was written by another serializer version of SpiffWorkflow."""


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class UserTaskDef:
    element_id: str
    name: str
    lane: str | None
    form_key: str | None
    # The user task's camunda:properties (e.g. ``requires_participants``), as written in the diagram.
    properties: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass
class CompiledProcess:
    """A diagram bundle that passed every check; ``spec_json`` is what a deployed version stores."""

    process_id: str
    spec_json: str
    user_tasks: list[UserTaskDef] = field(default_factory=list)
    lanes: set[str] = field(default_factory=set)
    service_handlers: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ReadyTask:
    guid: str
    element_id: str
    name: str
    lane: str | None
    form_key: str | None
    data: dict
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WaitingTimer:
    guid: str
    element_id: str
    due_at: datetime  # aware, UTC
    # The timer event's camunda:properties (e.g. ``deadline=beoordeling``), as written in the diagram.
    properties: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class DeadlineWindow:
    """A boundary timer with a ``deadline`` property: the time its activity has to get done.

    ``state`` is the timer's: ``waiting`` (not yet due), ``fired`` (due, escalated) or ``cancelled``
    (the activity was done in time). ``closed``: the activity the timer is attached to is done.
    """

    timer_guid: str
    kind: str  # the value of the ``deadline`` property
    element_id: str  # the boundary timer event
    due_at: datetime | None  # aware, UTC; None if the engine no longer knows it
    state: str  # "waiting" | "fired" | "cancelled"
    closed: bool


@dataclass(frozen=True)
class MigrationCheck:
    """Whether a workflow can move to another version's spec (issue 6), and why not."""

    blocking: list[str]  # Dutch reasons; empty when it can move
    reset: list[str]  # element ids of ready or waiting tasks that are set up anew


@dataclass(frozen=True)
class _SpecBundle:
    """Parsed spec objects of one deployed version: never mutated, so shared by all threads."""

    spec: BpmnProcessSpec
    subprocess_specs: Mapping[str, BpmnProcessSpec]


# ----------------------------------------------------------------------------- the engine


class Engine:
    """Compiles diagrams and runs workflows. Thread-safe: its only state is caches of immutables."""

    def __init__(self) -> None:
        self._serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(serializer_config()))
        self._registry = self._serializer.registry
        # Never use serialize_json: it flips a flag on the shared registry for the duration of a dump,
        # which another thread's dump would see. The encoder handles what `convert` leaves behind
        # (datetimes in task data deltas), so a dump needs no flag.
        self._encoder = create_encoder(self._registry)
        self._specs: dict[str, _SpecBundle] = {}
        self._lock = threading.Lock()
        self._script_engine = make_script_engine()

    # -- compile ------------------------------------------------------------------------------

    def compile(
        self,
        files: dict[str, bytes],
        process_id: str,
        known_roles: set[str] | None = None,
        known_forms: set[str] | None = None,
    ) -> CompiledProcess:
        """Checks and parses a bundle of BPMN files; raises DiagramError listing every finding."""
        trees: dict[str, etree._ElementTree] = {}
        errors: list[ElementError] = []
        for filename, data in files.items():
            try:
                trees[filename] = parse_xml(filename, data)
            except DiagramError as exc:
                errors += exc.errors
        if errors:
            raise DiagramError(errors)
        for filename, tree in trees.items():
            errors += xsd_errors(tree, filename)
        if errors:
            # What the parser makes of schema-invalid XML is undefined; stop here.
            raise DiagramError(errors)

        bundle, parse_errors = _parse(trees, process_id)
        process_ids = set(bundle) or {
            p.get("id") for tree in trees.values() for p in tree.getroot().iterfind(f"{{{BPMN}}}process")
        }
        element_findings, facts = element_errors(
            trees.values(),
            process_ids,
            handler_names=service_handler_names(),
            helper_names=set(expression_helpers()),
            known_roles=known_roles,
            known_forms=known_forms,
        )
        errors += element_findings
        if not any(e.element_id is not None and is_reserved_id(e.element_id) for e in element_findings):
            # A reserved id makes the parser fail or drop what follows it; those findings would only
            # bury the one that tells the process owner what to change.
            errors += parse_errors
            if bundle:
                errors += missing_flow_nodes(trees.values(), bundle)
        if errors:
            raise DiagramError(errors)

        spec_dict = {
            VERSION_KEY: self._serializer.VERSION,
            "spec": self._registry.convert(bundle[process_id]),
            "subprocess_specs": {
                name: self._registry.convert(spec) for name, spec in bundle.items() if name != process_id
            },
        }
        return CompiledProcess(
            process_id=process_id,
            spec_json=json.dumps(spec_dict, separators=(",", ":")),
            user_tasks=_user_tasks(bundle),
            lanes=facts.lanes,
            service_handlers=facts.service_handlers,
        )

    # -- state --------------------------------------------------------------------------------

    def new_workflow(self, version_key: str, spec_json: str) -> BpmnWorkflow:
        """A fresh instance of a deployed version; call `run` to start it."""
        specs = self._spec_bundle(version_key, spec_json)
        return BpmnWorkflow(specs.spec, dict(specs.subprocess_specs), script_engine=self._script_engine)

    def set_start_data(self, wf: BpmnWorkflow, data: dict) -> None:
        """Data every task of a fresh workflow starts from (school settings the gateways read)."""
        for task in wf.get_tasks(state=TaskState.READY):
            task.set_data(**copy.deepcopy(data))

    def load(self, version_key: str, spec_json: str, state_json: str) -> BpmnWorkflow:
        """Restores an instance from a state written by `dump`, with the version's cached specs."""
        specs = self._spec_bundle(version_key, spec_json)
        dct = json.loads(state_json)
        version = dct.pop(VERSION_KEY, None)
        if version != self._serializer.VERSION:
            # Migrating means rewriting old states *and* old spec_json together: a separate command.
            raise IncompatibleState(
                f"Toestand met serializerversie {version!r}; deze motor leest {self._serializer.VERSION!r}."
            )
        dct["spec"] = specs.spec
        dct["subprocess_specs"] = dict(specs.subprocess_specs)
        workflow = self._registry.restore(dct)
        # The serializer gives every restored workflow SpiffWorkflow's plain-eval engine.
        workflow.script_engine = self._script_engine
        return workflow

    def dump(self, wf: BpmnWorkflow) -> str:
        """The instance state as JSON, without ``spec`` and ``subprocess_specs``."""
        dct = self._registry.convert(wf)
        dct[VERSION_KEY] = self._serializer.VERSION
        return json.dumps(dct, cls=self._encoder, separators=(",", ":"))

    def _spec_bundle(self, version_key: str, spec_json: str) -> _SpecBundle:
        specs = self._specs.get(version_key)
        if specs is None:
            # Two threads may both restore on a cold cache; the first stored one wins, and each
            # restore reads its own fresh dict (from_dict pops keys in place).
            restored = self._restore_specs(spec_json)
            with self._lock:
                specs = self._specs.setdefault(version_key, restored)
        return specs

    def _restore_specs(self, spec_json: str) -> _SpecBundle:
        dct = json.loads(spec_json)
        version = dct.get(VERSION_KEY)
        if version != self._serializer.VERSION:
            raise IncompatibleState(
                f"Spec met serializerversie {version!r}; deze motor leest {self._serializer.VERSION!r}."
            )
        spec = self._registry.restore(dct["spec"])
        subprocess_specs = {name: self._registry.restore(d) for name, d in dct["subprocess_specs"].items()}
        return _SpecBundle(spec, MappingProxyType(subprocess_specs))

    # -- migration ----------------------------------------------------------------------------

    def migrate(self, wf: BpmnWorkflow, version_key: str, spec_json: str) -> MigrationCheck:
        """Moves ``wf`` onto another version's specs with SpiffWorkflow's diff/migrate, unless a task
        that is under way has no counterpart there (then ``wf`` is left as it was). Ready and waiting
        tasks are reset: their timers are evaluated anew, a ready task's data comes again from the step
        before. The caller runs the engine afterwards and never reuses ``wf`` after a refusal it ignores.
        """
        specs = self._spec_bundle(version_key, spec_json)
        new_deps = dict(specs.subprocess_specs)
        top, sub_diffs = diff_workflow(self._registry, wf, specs.spec, new_deps)
        active = TaskState.READY | TaskState.WAITING | TaskState.STARTED
        blocking = [f"De stap '{t.task_spec.bpmn_name or t.task_spec.bpmn_id}' ({t.task_spec.bpmn_id}) is bezig "
                    "en bestaat niet meer in de nieuwe versie." for t in top.removed if t.state & active]
        for sp_id, sp_diff in sub_diffs.items():
            sub = wf.subprocesses[sp_id]
            if sp_diff is None:
                if not sub.is_completed():
                    blocking.append(f"Het lopende subproces '{sub.spec.name}' ontbreekt in de nieuwe versie.")
                continue
            blocking += [f"De stap '{t.task_spec.bpmn_name or t.task_spec.bpmn_id}' ({t.task_spec.bpmn_id}) is "
                         "bezig en bestaat niet meer in de nieuwe versie." for t in sp_diff.removed if t.state & active]
        if blocking:
            return MigrationCheck(blocking, [])
        mask = TaskState.READY | TaskState.WAITING
        reset = sorted({t.task_spec.bpmn_id for t in wf.get_tasks(state=mask)
                        if getattr(t.task_spec, "bpmn_id", None)})
        migrate_workflow(top, wf, specs.spec)
        for sp_id, sp_diff in sub_diffs.items():
            if sp_diff is not None:
                sub = wf.subprocesses[sp_id]
                migrate_workflow(sp_diff, sub, new_deps[sub.spec.name])
        wf.subprocess_specs = new_deps
        return MigrationCheck([], reset)

    # -- running ------------------------------------------------------------------------------

    def run(self, wf: BpmnWorkflow, ctx_factory: Callable[[str], HandlerContext]) -> None:
        """Runs the engine until it waits, executing service-task handlers on the way.

        A handler's exception propagates: the caller rolls the whole step back (decision 1).
        """

        def run_handler(task: Task) -> None:
            spec = task.task_spec
            if not isinstance(spec, HandlerServiceTask):
                return
            handler = get_service_handler(spec.handler_name or "")
            # A copy: only what the handler returns may change the task data.
            result = handler(copy.deepcopy(task.data), ctx_factory(spec.bpmn_id))
            if result is not None:
                if not isinstance(result, dict):
                    kind = type(result).__name__
                    raise TypeError(f"Handler {spec.handler_name!r} returned {kind}, not a dict")
                task.set_data(**result)
            task.internal_data[_HANDLER_DONE] = True

        wf.do_engine_steps(will_complete_task=run_handler)

    def ready_user_tasks(self, wf: BpmnWorkflow) -> list[ReadyTask]:
        return [
            ReadyTask(
                guid=str(task.id),
                element_id=task.task_spec.bpmn_id,
                name=task.task_spec.bpmn_name or task.task_spec.bpmn_id,
                lane=task.task_spec.lane,
                form_key=task.task_spec.form.key,
                data=copy.deepcopy(task.data),
                properties=_properties(task.task_spec),
            )
            for task in wf.get_tasks(state=TaskState.READY)
            if isinstance(task.task_spec, UserTask)
        ]

    def complete_user_task(self, wf: BpmnWorkflow, guid: str, data: dict) -> None:
        """Puts the form data into a READY user task and completes it; the caller then calls `run`."""
        try:
            task = wf.get_task_from_id(UUID(guid))
        except (ValueError, TaskNotFoundException):
            raise TaskNotReady(guid) from None
        if not isinstance(task.task_spec, UserTask) or task.state != TaskState.READY:
            raise TaskNotReady(guid)
        # set_data, not add_data_from_form: the latter merges lists wrongly (design decision 9). A deep
        # copy: at a join SpiffWorkflow merges the branches' data into nested dicts in place, and the
        # caller's dict is also what the audit event and the recorded assessment store (R26).
        task.set_data(**copy.deepcopy(data))
        task.run()

    def waiting_timers(self, wf: BpmnWorkflow) -> list[WaitingTimer]:
        """Timers the workflow waits for, with their due time (design decision 4)."""
        timers = []
        for task in list(wf.event_manager.tasks.values()):
            definition = task.task_spec.event_definition
            if not isinstance(definition, TimerEventDefinition) or task.state != TaskState.WAITING:
                continue
            value = definition.details(task).value
            due_at = _due_at(value)
            if due_at is None:
                log.warning("timer %s has no usable due time: %r", task.task_spec.bpmn_id, value)
                continue
            timers.append(WaitingTimer(str(task.id), task.task_spec.bpmn_id, due_at, _properties(task.task_spec)))
        return timers

    def deadline_windows(self, wf: BpmnWorkflow) -> list[DeadlineWindow]:
        """Every boundary timer with a ``deadline`` property that has started waiting (design decision 7).

        A timer that fired or was cancelled stays listed, so that the caller can close its window.
        """
        windows = []
        # BpmnWorkflow.get_tasks also walks the tasks of (embedded) subprocesses.
        for task in wf.get_tasks(state=_BEGUN):
            spec = task.task_spec
            if not isinstance(spec, BoundaryEvent) or not isinstance(spec.event_definition, TimerEventDefinition):
                continue
            kind = _properties(spec).get("deadline")
            if not kind:
                continue
            if task.state == TaskState.WAITING:
                state = "waiting"
            elif task.state == TaskState.CANCELLED:
                state = "cancelled"
            else:
                state = "fired"
            windows.append(
                DeadlineWindow(
                    timer_guid=str(task.id),
                    kind=kind,
                    element_id=spec.bpmn_id,
                    due_at=_due_at(task._get_internal_data("event_value")),
                    state=state,
                    closed=_attached_activity_done(task),
                )
            )
        return windows

    def task_due_dates(self, wf: BpmnWorkflow) -> dict[str, datetime]:
        """Due time of each ready user task that lies inside an open deadline window (the earliest
        window that encloses it), for "uiterlijk" in the inbox."""
        due_by_activity: dict = {}
        for task in wf.get_tasks(state=_BEGUN):
            spec = task.task_spec
            if (not isinstance(spec, BoundaryEvent) or not isinstance(spec.event_definition, TimerEventDefinition)
                    or not _properties(spec).get("deadline") or task.state == TaskState.CANCELLED):
                continue
            activity = next((c for c in (task.parent.children if task.parent else [])
                             if not isinstance(c.task_spec, BoundaryEvent)), None)
            due = _due_at(task._get_internal_data("event_value"))
            if activity is None or activity.state == TaskState.COMPLETED or due is None:
                continue
            due_by_activity[activity.id] = min(due, due_by_activity.get(activity.id, due))
        result: dict[str, datetime] = {}
        for task in wf.get_tasks(state=TaskState.READY):
            if not isinstance(task.task_spec, UserTask):
                continue
            dues = [due_by_activity[task.id]] if task.id in due_by_activity else []
            workflow = task.workflow
            # Climb out through the enclosing (embedded) subprocesses.
            while getattr(workflow, "parent_task_id", None) is not None:
                if workflow.parent_task_id in due_by_activity:
                    dues.append(due_by_activity[workflow.parent_task_id])
                workflow = workflow.parent_workflow
            if dues:
                result[str(task.id)] = min(dues)
        return result

    def deliver_message(self, wf: BpmnWorkflow, name: str, payload: dict | None = None) -> bool:
        """Delivers the BPMN message ``name``; True if a waiting catch event took it.

        The caller then calls `run` to move on from it. With the Camunda flavour the payload lands
        in the task data under the catch event's ``camunda:resultVariable``.
        """
        for task in list(wf.event_manager.tasks.values()):
            if task.state != TaskState.WAITING:
                continue
            # An event-based gateway waits with one definition holding those of the events after it.
            candidates = getattr(task.task_spec.event_definition, "event_definitions", None) or [
                task.task_spec.event_definition]
            definition = next((d for d in candidates if isinstance(d, MessageEventDefinition) and d.name == name),
                              None)
            if definition is None:
                continue
            event_payload = copy.deepcopy(payload or {})
            if isinstance(definition, CamundaMessageEventDefinition):
                event_payload = {"payload": event_payload, "result_var": definition.result_var}
            # Built with the catch event's own class: an event definition only equals one of its class.
            return wf.event_manager.catch(BpmnEvent(type(definition)(name), event_payload), internal=False) > 0
        return False

    def refresh_timers(self, wf: BpmnWorkflow) -> None:
        """Lets due timers fire; call `run` afterwards to move on from them."""
        wf.refresh_timers()

    def is_completed(self, wf: BpmnWorkflow) -> bool:
        return wf.is_completed()

    def data(self, wf: BpmnWorkflow) -> dict:
        """The workflow's data (at the end: what its end event left)."""
        return copy.deepcopy(wf.data)


# ----------------------------------------------------------------------------- helpers


def _parse(
    trees: dict[str, etree._ElementTree], process_id: str
) -> tuple[dict[str, BpmnProcessSpec], list[ElementError]]:
    """The process and the processes it needs, by id; empty with the error if it cannot be parsed."""
    parser = _ExamenflowParser()
    try:
        for filename, tree in trees.items():
            parser.add_bpmn_xml(tree, filename=filename)
        if process_id not in parser.get_process_ids():
            present = ", ".join(sorted(parser.get_process_ids())) or "geen"
            return {}, [ElementError(None, f"Proces '{process_id}' niet gevonden (aanwezig: {present}).")]
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        return {}, [ElementError(exc.id or None, f"Het diagram kan niet worden verwerkt: {exc}")]
    return {process_id: spec, **subprocess_specs}, []


def _user_tasks(bundle: Mapping[str, BpmnProcessSpec]) -> list[UserTaskDef]:
    return [
        UserTaskDef(ts.bpmn_id, ts.bpmn_name or ts.bpmn_id, ts.lane, ts.form.key, _properties(ts))
        for spec in bundle.values()
        for ts in spec.task_specs.values()
        if isinstance(ts, UserTask)
    ]


def _properties(task_spec: object) -> dict[str, str]:
    # CamundaTaskParser (the base of the Camunda UserTaskParser) reads every camunda:property of a
    # task into `extensions`; the serializer writes it with the spec, so a restored spec has it too.
    return dict(getattr(task_spec, "extensions", None) or {})


_BEGUN = TaskState.WAITING | TaskState.READY | TaskState.STARTED | TaskState.COMPLETED | TaskState.CANCELLED


def _attached_activity_done(boundary: Task) -> bool:
    # SpiffWorkflow puts an activity with boundary events under a BoundaryEventSplit: its children
    # are the activity itself and the boundary events.
    split = boundary.parent
    if split is None:
        return False
    for sibling in split.children:
        if not isinstance(sibling.task_spec, BoundaryEvent):
            return sibling.state == TaskState.COMPLETED
    return False


def _due_at(value: object) -> datetime | None:
    # Date and duration timers keep an ISO date-time string; a cycle keeps its next one. Parsed as
    # SpiffWorkflow itself does, so the due time we index is the one at which it will fire.
    if not isinstance(value, str):
        return None
    try:
        return TimerEventDefinition.get_datetime(value)
    except ValueError:
        return None


_default: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """The process-wide engine; its caches hold only immutable specs, so one is enough."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Engine()
    return _default
