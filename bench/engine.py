"""Benchmark 1: one request's worth of engine work, SpiffWorkflow in memory, no database.

    .venv/bin/python bench/engine.py [--iterations 3000] [--warmup 200] [--step ELEMENT_ID]
                                     [--all-steps] [--no-plain]

Compiles bpmn/pvb.bpmn once through processes.engine.Engine, walks a workflow to ``--step``
(default: the first user task, opdracht_aanmaken) and then times, per iteration, what
processes.runner does with the engine when a task is completed:

  load the state JSON -> list the ready user tasks (is the task still open?) -> complete the
  task with valid, validated form data -> run the engine until it waits -> dump the state JSON
  -> list the ready user tasks and waiting timers (sync_index)

Service handlers run for real, with a stub for the exam's database services (handlers'
database work is not engine work). Form data is the project's own walk data
(tests/support/walk.py). Reported twice:

  engine (spec cache)    Engine.load/dump: the state holds no spec, the parsed spec is cached
  plain (spec embedded)  SpiffWorkflow's own BpmnWorkflowSerializer, spec inside every state,
                         so every load rebuilds the spec objects (SpiffArena's way)

`run_engine_bench()` is imported by bench/complete.py for its ratio.
"""

from __future__ import annotations

import argparse
import time

import _common
from _common import REPO, summary, table

# Fake user ids for the world keys of tests/support/walk.py; person fields get them as choices.
USERS = {"begeleider_a": 11, "student_a": 12, "praktijkbegeleider": 13, "beoordelaar_a": 14,
         "rocbeoordelaar_a": 15, "commissie_a": 16}
PARTICIPANTS = {"roc_begeleider": 11, "student": 12, "praktijkbegeleider": 13, "praktijkbeoordelaar": 14,
                "roc_beoordelaar": 15, "examencommissie": 16}


class _World:
    users = USERS


class _StubExam:
    """handlers.registry.ExamServices without a database."""

    def participants(self) -> dict[str, int]:
        return dict(PARTICIPANTS)

    def lock_assignment(self) -> None: ...

    def unlock_assignment(self) -> None: ...

    def establish_assignment(self) -> None: ...

    def lock_evidence(self) -> None: ...

    def warn(self, code: str, message: str) -> None: ...

    def record_result(self) -> dict:
        return {"uitslag": "voldaan"}

    def start_follow_up(self, note: str) -> int:
        return 0

    def archive(self) -> None: ...


def _settings() -> dict:
    try:
        from processes.runner import SETTING_DEFAULTS
    except ImportError:
        return {}
    return dict(SETTING_DEFAULTS)


class Walker:
    """The compiled diagram and a workflow that can be walked task by task (always the first open one)."""

    def __init__(self):
        import forms as formlib
        from handlers.registry import HandlerContext
        from processes.engine import Engine
        from processes.models import ROLES

        self.engine = Engine()
        form_files = formlib.load_form_dir(formlib.shipped_forms_dir())
        self.forms = {k: formlib.parse_form(v) for k, v in form_files.items()}
        t0 = time.perf_counter()
        compiled = self.engine.compile({"pvb.bpmn": (REPO / "bpmn" / "pvb.bpmn").read_bytes()}, "pvb",
                                       known_roles=set(ROLES), known_forms=set(self.forms))
        self.compile_ms = (time.perf_counter() - t0) * 1000
        self.spec_json = compiled.spec_json
        self.key = "pvb:bench"
        ctx = HandlerContext(instance_id=1, school_id=1, element_id="", settings=_settings(), exam=_StubExam())
        self.ctx_factory = lambda element_id: ctx
        self.wf = self.engine.new_workflow(self.key, self.spec_json)
        if hasattr(self.engine, "set_start_data"):
            self.engine.set_start_data(self.wf, _settings())
        self.engine.run(self.wf, self.ctx_factory)

    def first_ready(self):
        ready = self.engine.ready_user_tasks(self.wf)
        return ready[0] if ready else None

    def clean(self, form_key: str, element_id: str) -> dict:
        import forms as formlib
        from processes.assessment import EXAMPLE_MODEL
        from tests.support.walk import full_data

        form = self.forms[form_key]
        choices = {f.name: [{"value": v, "label": k} for k, v in USERS.items()]
                   for f in form.fields if f.type == "person"}
        model = EXAMPLE_MODEL if any(f.type == "criteria" for f in form.fields) else None
        return formlib.validate(form, full_data(_World(), element_id, EXAMPLE_MODEL), choices=choices,
                                criteria_model=model)

    def step(self) -> str:
        task = self.first_ready()
        self.engine.complete_user_task(self.wf, task.guid, self.clean(task.form_key, task.element_id))
        self.engine.run(self.wf, self.ctx_factory)
        return task.element_id


def walk_steps() -> list[str]:
    """The user tasks met when always completing the first open one, from start to end."""
    w, steps = Walker(), []
    while w.first_ready() is not None and len(steps) < 100:
        steps.append(w.step())
    return steps


def _measure(iterations: int, warmup: int, load, dump, engine, guid, data, ctx_factory) -> dict:
    total, t_load, t_step, t_dump = [], [], [], []
    size = 0
    for i in range(warmup + iterations):
        t0 = time.perf_counter()
        wf = load()
        t1 = time.perf_counter()
        engine.ready_user_tasks(wf)
        engine.complete_user_task(wf, guid, data)
        engine.run(wf, ctx_factory)
        t2 = time.perf_counter()
        out = dump(wf)
        engine.ready_user_tasks(wf)
        engine.waiting_timers(wf)
        t3 = time.perf_counter()
        if i >= warmup:
            total.append((t3 - t0) * 1000)
            t_load.append((t1 - t0) * 1000)
            t_step.append((t2 - t1) * 1000)
            t_dump.append((t3 - t2) * 1000)
            size = len(out)
    return {"total": summary(total), "load": summary(t_load), "step": summary(t_step),
            "dump": summary(t_dump), "state_bytes": size}


def run_engine_bench(iterations: int = 3000, warmup: int = 200, step: str | None = None,
                     plain: bool = True) -> dict:
    """Returns {"engine": {...}, "plain": {...} or None, "compile_ms", "step"}; times in ms."""
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer

    from processes.engine import serializer_config

    w = Walker()
    walked = []
    while True:
        task = w.first_ready()
        if task is None:
            raise SystemExit(f"step {step!r} not reached; the walk was {' -> '.join(walked)}")
        if step is None or task.element_id == step:
            break
        walked.append(w.step())
    data = w.clean(task.form_key, task.element_id)
    eng, state_json = w.engine, w.engine.dump(w.wf)
    result = {
        "compile_ms": w.compile_ms,
        "step": task.element_id,
        "engine": _measure(iterations, warmup, lambda: eng.load(w.key, w.spec_json, state_json), eng.dump,
                           eng, task.guid, data, w.ctx_factory),
        "plain": None,
    }
    if plain:
        ser = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(serializer_config(embed_specs=True)))
        full_state = ser.serialize_json(eng.load(w.key, w.spec_json, state_json))

        def plain_load():
            wf = ser.deserialize_json(full_state)
            # Same (safe) script engine as Engine.load, so only the serialization differs.
            wf.script_engine = eng._script_engine
            return wf

        result["plain"] = _measure(iterations, warmup, plain_load, ser.serialize_json, eng, task.guid, data,
                                   w.ctx_factory)
    return result


def report(res: dict) -> str:
    rows = []
    for label, key in (("engine (spec cache)", "engine"), ("plain (spec embedded)", "plain")):
        r = res.get(key)
        if not r:
            continue
        rows.append([label, r["total"]["median"], r["total"]["p95"], r["load"]["median"], r["step"]["median"],
                     r["dump"]["median"], r["state_bytes"]])
    out = [table(["per request (ms)", "median", "p95", "load", "ready+complete+run", "dump+sync", "state bytes"],
                 rows, title=f"Engine bench: pvb.bpmn, complete '{res['step']}' "
                             f"(n={res['engine']['total']['n']} per row, phases are medians; "
                             f"compile once {res['compile_ms']:.0f} ms)")]
    if res.get("plain"):
        ratio = res["plain"]["total"]["median"] / res["engine"]["total"]["median"]
        out.append(f"ratio plain/engine (median): {ratio:.2f}x")
    out.append("reference (design.md): SpiffWorkflow alone 1.5-1.9 ms, 0.9 ms with the spec cached")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--step", default=None,
                    help="the user task to complete (default: the first; the workflow is walked there)")
    ap.add_argument("--all-steps", action="store_true", help="run once per user task of the walk")
    ap.add_argument("--no-plain", action="store_true", help="skip the spec-embedding comparison")
    args = ap.parse_args()
    _common.quiet_logs()
    print(_common.machine_note("start"))
    steps = walk_steps() if args.all_steps else [args.step]
    for step in dict.fromkeys(steps):
        print(report(run_engine_bench(args.iterations, args.warmup, step, plain=not args.no_plain)))
        print()
    print(_common.machine_note("end"))


if __name__ == "__main__":
    main()
