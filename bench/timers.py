"""Benchmark 4: the scheduler's timer sweep with 10,000 and 100,000 waiting timers (PostgreSQL).

    .venv/bin/python bench/timers.py [--scales 10000,100000] [--iterations 200] [--fire 1000]
                                     [--lag-instances 50] [--explain]

Per scale the database examenflow_bench_timers is dropped and re-created, migrated, and filled:

* a handful of real template instances of a tiny timer process (a copy of TIMER_PROCESS of
  tests/integration/test_scheduler.py: start -> timer (timeDate, far in the future) -> user task),
  started through processes.runner.start_pvb, so each holds real engine state with a waiting timer;
* the rest as copies of the templates (INSERT ... SELECT over generate_series): the
  process_instance row with its engine state, its participant, human_task (if any),
  exam_assignment and timer rows. The engine's due time is the same instant in every copy
  (ENGINE_DUE); the timer rows' due_at are spread over two years after it (hash order, so the
  index is not correlated with the heap). The templates' own timer rows are moved past that
  spread, so nothing is due at ENGINE_DUE; then VACUUM ANALYZE.

Measured:
  (a) an empty sweep: processes.timers.fire_due_timers(uow_factory, now) at the real now (nothing
      due), median and p95 over --iterations runs; also scheduler.sweep_once (timers + outbox).
      Goal: median at the largest scale / median at the smallest <= 1.5.
  (b) a sweep firing --fire timers: that many waiting rows (spread over the table) get
      due_at = ENGINE_DUE, then one fire_due_timers at ENGINE_DUE, where the engine's own due
      time has passed too, so each firing really runs SpiffWorkflow and moves its instance to the
      user task. Total seconds and ms per timer.
  (c) lag with the real scheduler: `examenflow scheduler` as a subprocess against the database
      (real clock, sweeping every second), then --lag-instances instances of a second tiny
      process (timeDuration PT3S) started one every 7/N s, so their timers fall due 3-10 s later
      at instants recorded in timer.due_at. After they fired: timer.fired_at - timer.due_at (the
      sweep's instant) and the time the bench first saw the fired row committed (polling every
      50 ms) minus due_at. Goal: <= 2 s. The scheduler is stopped (SIGINT, then SIGKILL).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import _common
from _common import summary, table

DB_NAME = "examenflow_bench_timers"
GOAL_RATIO = 1.5
GOAL_LAG_S = 2.0
TEMPLATES = 5
ENGINE_DUE = datetime.fromisoformat("2031-05-01T10:00:00+02:00").astimezone(UTC)
SPREAD_SECONDS = 2 * 365 * 86400  # copies' due_at: ENGINE_DUE + 1 day .. + 2 years
LAG_SPAN_S = (3.0, 10.0)

# A copy of tests/integration/test_scheduler.py's TIMER_PROCESS (the bench never imports tests),
# with the process id and the timer definition as parameters.
PROCESS_XML = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="{pid}_definities" targetNamespace="https://examenflow.nl/t">
  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:laneSet id="{pid}_banen">
      <bpmn:lane id="{pid}_baan" name="roc_begeleider">
        <bpmn:flowNodeRef>{pid}_start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>wachten</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>na_het_wachten</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>{pid}_einde</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="{pid}_start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wachten" name="Wachten tot de termijn">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="wachten_timer">
        {timer}
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="na_het_wachten" name="Na het wachten" camunda:formKey="uitvoering_afronden">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="{pid}_einde"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="{pid}_start" targetRef="wachten" />
    <bpmn:sequenceFlow id="f2" sourceRef="wachten" targetRef="na_het_wachten" />
    <bpmn:sequenceFlow id="f3" sourceRef="na_het_wachten" targetRef="{pid}_einde" />
  </bpmn:process>
</bpmn:definitions>
"""
TIMER_PROCESS = PROCESS_XML.format(pid="proef_termijn",
                                   timer=f"<bpmn:timeDate>{ENGINE_DUE.isoformat()}</bpmn:timeDate>")
LAG_PROCESS = PROCESS_XML.format(pid="bench_vertraging", timer="<bpmn:timeDuration>PT3S</bpmn:timeDuration>")

# Tables copied per template instance: column -> expression (None: left to its serial default).
# ``m`` is the mapping row (g, new_id, tpl), ``t`` the template's row.
H = "(hashint4(m.g::int4)::int8 & 2147483647)"
OVERRIDES = {
    "process_instance": {"id": "m.new_id", "title": "'Bench ' || m.g"},
    "participant": {"id": None, "instance_id": "m.new_id"},
    "human_task": {"id": None, "instance_id": "m.new_id"},
    "exam_assignment": {"instance_id": "m.new_id", "follow_up_of_id": "NULL"},
    "timer": {"id": None, "instance_id": "m.new_id",
              "due_at": f"CAST(:due AS timestamptz) + interval '1 day' "
                        f"+ make_interval(secs => {H} % {SPREAD_SECONDS})"},
}


class World:
    def __init__(self, url: str):
        from processes.db import UnitOfWork, make_engine, make_session_factory

        self.url = url
        self.db = make_engine(url)
        self.sf = make_session_factory(self.db)
        self.uow = lambda: UnitOfWork(self.sf)


def _copy_sql(conn, table_name: str) -> str:
    from sqlalchemy import inspect

    over = OVERRIDES[table_name]
    names, values = [], []
    for c in inspect(conn).get_columns(table_name):
        name = c["name"]
        if name in over and over[name] is None:
            continue
        names.append(name)
        values.append(over.get(name, f"t.{name}"))
    key = "id" if table_name == "process_instance" else "instance_id"
    return (f"INSERT INTO {table_name} ({', '.join(names)}) SELECT {', '.join(values)} "
            f"FROM bench_map m JOIN {table_name} t ON t.{key} = m.tpl ORDER BY m.g")


def build(n: int) -> tuple[World, dict]:
    from sqlalchemy import inspect, text

    import forms as formlib
    from processes import accounts, runner
    from processes.schema import upgrade_database
    from processes.versions import deploy_process

    t_start = time.perf_counter()
    url = _common.recreate_database(DB_NAME)
    w = World(url)
    upgrade_database(w.db)
    school = accounts.create_school("roc-timers", "ROC Termijnen", w.uow())
    begeleider = accounts.create_user("begeleider@bench.nl", "Bench Begeleider", None, w.uow())
    accounts.grant_role(begeleider, school, "roc_begeleider", w.uow())
    student_user = accounts.create_user("student@bench.nl", "Bench Student", None, w.uow())
    student = accounts.create_student(student_user, school, "B001", "2024", "25655", w.uow())
    form_files = formlib.load_form_dir(formlib.shipped_forms_dir())
    for xml, pid in ((TIMER_PROCESS, "proef_termijn"), (LAG_PROCESS, "bench_vertraging")):
        deploy_process(xml.encode(), pid, form_files, None, w.uow())
    templates = [runner.start_pvb(school, student, begeleider, w.uow(), process_id="proef_termijn").instance_id
                 for _ in range(TEMPLATES)]

    with w.db.begin() as c:
        waiting = c.execute(text("SELECT count(*) FROM timer WHERE status = 'waiting' AND due_at = :d "
                                 "AND instance_id = ANY(:t)"), {"d": ENGINE_DUE, "t": templates}).scalar()
        if waiting != len(templates):
            raise SystemExit(f"expected {len(templates)} waiting template timers at {ENGINE_DUE}, got {waiting}")
        tables = set(inspect(c).get_table_names())
        base = c.execute(text("SELECT max(id) FROM process_instance")).scalar()
        copies = n - len(templates)
        c.execute(text(f"""
            CREATE TABLE bench_map AS
            SELECT g, {base} + g AS new_id, (CAST(:t AS int[]))[g % {len(templates)} + 1] AS tpl
            FROM generate_series(1, {copies}) g"""), {"t": templates})
        for name in ("process_instance", "participant", "human_task", "exam_assignment", "timer"):
            if name in tables:
                c.execute(text(_copy_sql(c, name)), {"due": ENGINE_DUE} if name == "timer" else {})
        c.execute(text("SELECT setval('process_instance_id_seq', (SELECT max(id) FROM process_instance))"))
        # The templates' own rows past the copies' spread: at ENGINE_DUE nothing is due until (b).
        c.execute(text("UPDATE timer SET due_at = CAST(:d AS timestamptz) + interval '3 years' "
                       "WHERE instance_id = ANY(:t)"), {"d": ENGINE_DUE, "t": templates})
        c.execute(text("DROP TABLE bench_map"))
    with w.db.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))
    with w.db.connect() as c:
        counts = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in ("process_instance", "participant", "human_task", "timer")}
        counts["waiting timers"] = c.execute(text("SELECT count(*) FROM timer WHERE status = 'waiting'")).scalar()
        counts["state avg bytes"] = c.execute(text("SELECT avg(length(state))::int FROM process_instance")).scalar()
        counts["db size"] = c.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
    counts["setup s"] = round(time.perf_counter() - t_start, 1)
    return w, counts


# ----------------------------------------------------------------------------- (a) empty sweep


def empty_sweep(w: World, iterations: int, warmup: int) -> dict:
    from handlers import clock
    from processes.timers import fire_due_timers
    from scheduler import sweep_once

    out = {}
    for label, fn in (("fire_due_timers", lambda: fire_due_timers(w.uow, clock.now())),
                      ("sweep_once (timers + outbox)", lambda: sweep_once(w.uow, w.sf))):
        for _ in range(warmup):
            fn()
        lat = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            result = fn()
            lat.append((time.perf_counter() - t0) * 1000)
            fired = result.fired if hasattr(result, "fired") else result.timers.fired
            if fired:
                raise SystemExit(f"an empty sweep fired {fired} timers")
        out[label] = summary(lat)
    return out


def explain_due(w: World) -> str:
    """EXPLAIN ANALYZE of the statements an empty sweep sends (the _due query)."""
    from sqlalchemy import event

    from handlers import clock
    from processes.timers import fire_due_timers

    seen = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(w.db, "before_cursor_execute", grab)
    try:
        fire_due_timers(w.uow, clock.now())
    finally:
        event.remove(w.db, "before_cursor_execute", grab)
    raw = w.db.raw_connection()
    plans = []
    try:
        cur = raw.cursor()
        for statement, params in seen:
            if "FROM timer" not in statement:
                continue
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, params)
            plans.append(statement.strip() + "\n" + "\n".join(r[0] for r in cur.fetchall()))
        raw.rollback()
    finally:
        raw.close()
    return "\n".join(plans)


# ----------------------------------------------------------------------------- (b) firing


def fire_many(w: World, count: int) -> dict:
    from sqlalchemy import text

    from processes.timers import fire_due_timers

    with w.db.begin() as c:
        marked = c.execute(text("""
            UPDATE timer SET due_at = :d WHERE id IN (
                SELECT id FROM timer WHERE status = 'waiting' ORDER BY md5(id::text) LIMIT :n)
            RETURNING instance_id"""), {"d": ENGINE_DUE, "n": count}).scalars().all()
    with w.db.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE timer"))
    t0 = time.perf_counter()
    result = fire_due_timers(w.uow, ENGINE_DUE, limit=count + 10)
    total = time.perf_counter() - t0
    with w.db.connect() as c:
        opened = c.execute(text("SELECT count(*) FROM human_task WHERE status = 'open' "
                                "AND element_id = 'na_het_wachten' AND instance_id = ANY(:i)"),
                           {"i": marked}).scalar()
    if result.fired != len(marked) or result.failed or opened != len(marked):
        raise SystemExit(f"fired {result.fired}, failed {result.failed}, opened {opened} of {len(marked)} marked")
    return {"fired": result.fired, "total s": total, "ms/timer": total * 1000 / max(1, result.fired)}


# ----------------------------------------------------------------------------- (c) lag


def scheduler_lag(w: World, instances: int, log_path: Path) -> dict:
    from sqlalchemy import text

    from processes import runner

    with w.db.connect() as c:
        school, student, begeleider = c.execute(text(
            "SELECT s.school_id, s.id, (SELECT user_id FROM role_membership WHERE role = 'roc_begeleider' LIMIT 1) "
            "FROM student s LIMIT 1")).one()
    instance_dir = tempfile.mkdtemp(prefix="examenflow-bench-timers-")
    env = {**os.environ, "DATABASE_URL": w.url, "EXAMENFLOW_SECRET_KEY": "bench-timers",
           "EXAMENFLOW_INSTANCE_DIR": instance_dir}
    exe = Path(sys.executable).parent / "examenflow"
    log = open(log_path, "w")
    proc = subprocess.Popen([str(exe), "scheduler"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=_common.REPO)
    try:
        deadline = time.monotonic() + 60
        while "scheduler started" not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the scheduler did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        time.sleep(2.0)  # a few sweeps: imports done, connections open
        # One instance every (10 - 3) / (N - 1) s, each timer due 3 s after its start: due 3..10 s
        # from now. Between starts the bench polls (every 50 ms) for fired timers, committed.
        step = (LAG_SPAN_S[1] - LAG_SPAN_S[0]) / max(1, instances - 1)
        t0 = time.monotonic()
        deadline = t0 + LAG_SPAN_S[1] + 30
        ids: list[int] = []
        seen: dict[int, datetime] = {}
        with w.db.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            while (len(ids) < instances or len(seen) < instances) and time.monotonic() < deadline:
                if len(ids) < instances and time.monotonic() >= t0 + len(ids) * step:
                    ids.append(runner.start_pvb(school, student, begeleider, w.uow(),
                                                process_id="bench_vertraging").instance_id)
                    continue
                fired_ids = c.execute(text("SELECT id FROM timer WHERE status = 'fired' AND instance_id = ANY(:i)"),
                                      {"i": ids}).scalars().all()
                at = datetime.now(UTC)
                for tid in fired_ids:
                    seen.setdefault(tid, at)
                time.sleep(0.05)
            rows = c.execute(text("SELECT id, due_at, fired_at, status FROM timer WHERE instance_id = ANY(:i)"),
                             {"i": ids}).all()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()
    fired = [r for r in rows if r.status == "fired"]
    if len(fired) != instances:
        raise SystemExit(f"only {len(fired)} of {instances} timers fired; scheduler log: {log_path}")
    sweep_lag = [(r.fired_at - r.due_at).total_seconds() for r in fired]
    seen_lag = [(seen[r.id] - r.due_at).total_seconds() for r in fired if r.id in seen]
    span = (min(r.due_at for r in fired), max(r.due_at for r in fired))
    return {"fired_at - due_at": sweep_lag, "seen committed - due_at": seen_lag, "span": span}


def _lag_stats(values: list[float]) -> dict:
    s = summary(values)
    return {**s, "max": max(values) if values else float("nan")}


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="10000,100000", help="waiting timers (default 10000,100000)")
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--fire", type=int, default=1000, help="timers fired in (b) (default 1000)")
    ap.add_argument("--lag-instances", type=int, default=50)
    ap.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the due query")
    args = ap.parse_args()
    _common.quiet_logs()
    _common.fast_hasher()
    scales = [int(s) for s in args.scales.split(",")]
    print(_common.machine_note("start"), flush=True)

    res: dict[int, dict] = {}
    plans: dict[int, str] = {}
    for n in scales:
        print(f"building {n} waiting timers ...", flush=True)
        w, counts = build(n)
        print("  " + ", ".join(f"{k}: {v}" for k, v in counts.items()), flush=True)
        r = {"empty": empty_sweep(w, args.iterations, args.warmup)}
        if args.explain:
            plans[n] = explain_due(w)
        print(f"  (a) done; (b) firing {args.fire} ...", flush=True)
        r["fire"] = fire_many(w, args.fire)
        print(f"  (b) done; (c) scheduler lag, {args.lag_instances} instances ...", flush=True)
        lag = scheduler_lag(w, args.lag_instances, Path(tempfile.gettempdir()) / f"bench-timers-scheduler-{n}.log")
        r["lag"] = {k: _lag_stats(v) for k, v in lag.items() if k != "span"}
        r["lag span"] = lag["span"]
        res[n] = r
        w.db.dispose()

    first, last = scales[0], scales[-1]
    rows = []
    for label in res[first]["empty"]:
        row = [label]
        for n in scales:
            row += [res[n]["empty"][label]["median"], res[n]["empty"][label]["p95"]]
        ratio = res[last]["empty"][label]["median"] / res[first]["empty"][label]["median"]
        rows.append(row + [f"{ratio:.2f}", "ok" if ratio <= GOAL_RATIO else "MISSED"])
    headers = ["(a) empty sweep (ms)"] + [h for n in scales for h in (f"{n} med", f"{n} p95")]
    print()
    print(table(headers + [f"{last}/{first}", f"goal <={GOAL_RATIO}"], rows,
                title=f"Timer bench: PostgreSQL, nothing due, n={args.iterations} per cell"))
    rows = [[f"{n} waiting", res[n]["fire"]["fired"], res[n]["fire"]["total s"], res[n]["fire"]["ms/timer"]]
            for n in scales]
    print()
    print(table([f"(b) one sweep firing {args.fire}", "fired", "total s", "ms/timer"], rows))
    rows = []
    for n in scales:
        for key, s in res[n]["lag"].items():
            rows.append([f"{n} waiting, {key}", s["n"], s["median"], s["p95"], s["max"],
                         "ok" if s["max"] <= GOAL_LAG_S else "MISSED"])
    print()
    print(table(["(c) lag, real scheduler (s)", "timers", "median", "p95", "max", f"goal <={GOAL_LAG_S:g} s"], rows,
                title=f"{args.lag_instances} timers due 3-10 s after their start, scheduler sweeping every 1 s"))
    print(_common.machine_note("end"))
    for n, plan in plans.items():
        print(f"\n-- {n} waiting timers, the due query of an empty sweep:\n{plan}")


if __name__ == "__main__":
    main()
