"""Benchmark 3: "Mijn taken" at 1,000 and at 100,000 instances (PostgreSQL).

    .venv/bin/python bench/inbox.py [--scales 1000,100000] [--iterations 300] [--schools 4]
                                    [--completed-share 0.5] [--school-wide-share 0.5] [--explain]

Per scale the database examenflow_bench is dropped and re-created, migrated, the shipped
diagrams deployed, and filled like production:

* real template instances at the first school, walked through processes.runner
  (start_pvb + complete_task, always the first open task, data of tests/support/walk.py):
  one parked at every position of that walk through pvb.bpmn and one completed;
* people in bulk (SQL): per school pools of students, ROC-begeleiders, praktijkbegeleiders,
  praktijkbeoordelaars, ROC-beoordelaars and examencommissie members, sized with the scale;
* the remaining instances as copies of the templates (INSERT ... SELECT over generate_series):
  the process_instance row with its engine state, its participant rows and its human_task rows
  (open and completed, the same task guids the state holds), remapped to the pools, spread
  over the schools and over two years of start dates (exam_assignment rows too). Of them
  --completed-share are copies of the completed template, the rest are spread evenly over the
  open ones. Of the copies waiting at an examencommissie task, --school-wide-share record no
  vaststeller: that task has no assignee and is visible to every examencommissie member of the
  school;
* then VACUUM ANALYZE.

Measured users:
  (a) participant   a praktijkbegeleider given exactly 20 open tasks (spread over the table)
  (b) school-wide   an examencommissie member of the first school (his own vaststeller tasks
                    plus the school's unassigned examencommissie tasks)
each through the use case (processes.queries.list_my_tasks, first page), the JSON API
(GET /api/v1/tasks, bearer token) and the HTML page (GET /taken, logged in), both with the
Flask test client in this process. Goal: median at 100k / median at 1k <= 1.5.
"""

from __future__ import annotations

import argparse
import math
import re
import tempfile
import time

import _common
from _common import summary, table

GOAL_RATIO = 1.5
PASSWORD = "bench-wachtwoord"
# Instances per person of each pool (so each person's load is the same at every scale).
PER_PERSON = {"student": 3, "roc_begeleider": 40, "praktijkbegeleider": 10, "praktijkbeoordelaar": 10,
              "roc_beoordelaar": 40, "examencommissie": 100}
# The template people, under the world keys of tests/support/walk.py.
TEMPLATE_PEOPLE = {"begeleider_a": "roc_begeleider", "praktijkbegeleider": "praktijkbegeleider",
                   "beoordelaar_a": "praktijkbeoordelaar", "rocbeoordelaar_a": "roc_beoordelaar",
                   "commissie_a": "examencommissie"}
# Per table: columns the copy sets itself (the rest are copied from the template row, timestamps
# shifted to the copy's start date). ``m`` is the mapping row, ``t`` the template row,
# ``ti`` the template's process_instance row.
ROLE_CASE = """CASE {col} WHEN 'student' THEN m.student_user WHEN 'roc_begeleider' THEN m.roc_begeleider
    WHEN 'praktijkbegeleider' THEN m.praktijkbegeleider WHEN 'praktijkbeoordelaar' THEN m.praktijkbeoordelaar
    WHEN 'roc_beoordelaar' THEN m.roc_beoordelaar WHEN 'examencommissie' THEN m.vaststeller END"""
OVERRIDES = {
    "process_instance": {
        "id": "m.new_id", "school_id": "m.school_id", "student_id": "m.student_id",
        "title": "'PvB ' || su.name", "started_by_id": "m.roc_begeleider", "started_at": "m.started_at",
    },
    "participant": {
        "id": None, "instance_id": "m.new_id",
        "user_id": f"coalesce({ROLE_CASE.format(col='t.role')}, t.user_id)",
    },
    "human_task": {
        "id": None, "instance_id": "m.new_id", "school_id": "m.school_id", "student_id": "m.student_id",
        "assignee_id": f"CASE WHEN t.assignee_id IS NULL THEN NULL ELSE {ROLE_CASE.format(col='t.lane_role')} END",
        "completed_by_id": "CASE WHEN t.completed_by_id IS NULL THEN NULL "
                           f"ELSE coalesce({ROLE_CASE.format(col='t.completed_role')}, m.commissie) END",
    },
    "exam_assignment": {"instance_id": "m.new_id", "follow_up_of_id": "NULL", "assignment_id": "t.assignment_id"},
}


class World:
    def __init__(self, url: str):
        from processes.db import UnitOfWork, make_engine, make_session_factory

        self.db = make_engine(url)
        self.sf = make_session_factory(self.db)
        self.uow = lambda: UnitOfWork(self.sf)


class _TemplateWorld:
    """What tests/support/walk.full_data needs: user ids by world key."""

    def __init__(self, users: dict[str, int]):
        self.users = users


def make_templates(w: World, school_id: int) -> list[int]:
    """Real instances walked through the runner, always completing the first open task: one parked
    at every position of the walk, and a completed one (the last)."""
    from processes import accounts, runner
    from processes.models import ExamAssignment, HumanTask
    from tests.support.walk import full_data

    users = {}
    for key, role in TEMPLATE_PEOPLE.items():
        users[key] = accounts.create_user(f"tpl-{key}@bench.nl", f"Sjabloon {role}", None, w.uow())
        accounts.grant_role(users[key], school_id, role, w.uow())
    by_role = {role: users[key] for key, role in TEMPLATE_PEOPLE.items()}

    def new_instance(k: int) -> int:
        uid = accounts.create_user(f"tpl-student{k}@bench.nl", f"Sjabloonstudent {k}", None, w.uow())
        sid = accounts.create_student(uid, school_id, f"T{k:03d}", "2024", "25655", w.uow())
        return runner.start_pvb(school_id, sid, users["begeleider_a"], w.uow()).instance_id

    def open_tasks(inst: int) -> list:
        from sqlalchemy import select

        with w.uow() as u:
            rows = u.session.scalars(select(HumanTask).where(HumanTask.instance_id == inst,
                                                            HumanTask.status == "open").order_by(HumanTask.id)).all()
            for r in rows:
                u.session.expunge(r)
            return list(rows)

    def advance(inst: int, student_user: int) -> bool:
        tasks = open_tasks(inst)
        if not tasks:
            return False
        t = tasks[0]
        model = None
        if t.form_key in ("beoordelen", "consensus"):
            with w.uow() as u:
                model = u.session.get(ExamAssignment, inst).assessment_model
        data = full_data(_TemplateWorld({**users, "student_a": student_user}), t.element_id, model)
        actor = t.assignee_id or by_role.get(t.lane_role) or student_user
        runner.complete_task(t.id, actor, data, w.uow())
        return True

    def student_of(inst: int) -> int:
        from sqlalchemy import select

        from processes.models import Participant

        with w.uow() as u:
            return u.session.scalar(select(Participant.user_id).where(Participant.instance_id == inst,
                                                                     Participant.role == "student"))

    templates, k = [], 0
    while True:
        inst = new_instance(k)
        stu = student_of(inst)
        for _ in range(k):
            if not advance(inst, stu):
                break
        templates.append(inst)
        if not open_tasks(inst):
            return templates  # the last one is completed
        k += 1
        if k > 80:
            raise SystemExit("the walk does not end")


def _copy_sql(conn, table: str, from_clause: str, where: str = "", order: str = "") -> str:
    from sqlalchemy import inspect

    cols = inspect(conn).get_columns(table)
    over = OVERRIDES[table]
    names, values = [], []
    for c in cols:
        name = c["name"]
        if name in over:
            if over[name] is None:
                continue  # serial id
            names.append(name)
            values.append(over[name])
        elif "TIMESTAMP" in str(c["type"]).upper() or "DATETIME" in str(c["type"]).upper():
            names.append(name)
            values.append(f"m.started_at + (t.{name} - ti.started_at)")
        else:
            names.append(name)
            values.append(f"t.{name}")
    return (f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(values)} FROM {from_clause} "
            f"{'WHERE ' + where if where else ''} {'ORDER BY ' + order if order else ''}")


def build(url: str, n: int, schools: int, completed_share: float, school_wide_share: float) -> dict:
    from sqlalchemy import inspect, text

    from processes import accounts, versions
    from processes.schema import upgrade_database

    t_start = time.perf_counter()
    w = World(url)
    upgrade_database(w.db)
    school_ids = [accounts.create_school(f"roc-{i}", f"ROC {i}", w.uow()) for i in range(schools)]
    versions.deploy_shipped(w.uow())
    templates = make_templates(w, school_ids[0])
    open_tpl, done_tpl = templates[:-1], templates[-1]

    copies = n - len(templates)
    per_school = max(1, math.ceil(n / schools))
    sizes = {r: max(1, math.ceil(per_school / k)) for r, k in PER_PERSON.items()}
    with w.db.begin() as c:
        tables = set(inspect(c).get_table_names())
        # Templates with an open examencommissie task: in --school-wide-share of their copies the
        # exam records no vaststeller, so that task has no assignee (school-wide).
        commissie_tpl = c.execute(text(
            "SELECT DISTINCT instance_id FROM human_task WHERE status = 'open' AND lane_role = 'examencommissie' "
            "AND instance_id = ANY(:t)"), {"t": open_tpl}).scalars().all() or [0]
        c.execute(text("CREATE TABLE bench_school (idx int PRIMARY KEY, id int)"))
        c.execute(text("INSERT INTO bench_school SELECT i - 1, id FROM unnest(CAST(:ids AS int[])) "
                       "WITH ORDINALITY AS t(id, i)"), {"ids": school_ids})
        roles_values = ", ".join(f"('{r}', {p})" for r, p in sizes.items())
        c.execute(text(f"""
            INSERT INTO app_user (email, name, active, session_version, created_at)
            SELECT 'b.' || r || '.' || s || '.' || i || '@bench.nl',
                   initcap(replace(r, '_', ' ')) || ' ' || s || '-' || i, true, 1, now()
            FROM (VALUES {roles_values}) AS roles(r, p), generate_series(0, {schools - 1}) s,
                 LATERAL generate_series(0, p - 1) i"""))
        c.execute(text("""
            CREATE TABLE bench_pool AS
            SELECT split_part(split_part(email, '@', 1), '.', 2) AS role,
                   split_part(split_part(email, '@', 1), '.', 3)::int AS school_idx,
                   split_part(split_part(email, '@', 1), '.', 4)::int AS local_idx,
                   id AS user_id, NULL::int AS student_id
            FROM app_user WHERE email LIKE 'b.%@bench.nl'"""))
        c.execute(text("CREATE UNIQUE INDEX ON bench_pool (role, school_idx, local_idx)"))
        c.execute(text("""
            INSERT INTO role_membership (user_id, school_id, role)
            SELECT p.user_id, s.id, p.role FROM bench_pool p JOIN bench_school s ON s.idx = p.school_idx"""))
        c.execute(text("""
            INSERT INTO student (user_id, school_id, student_number, cohort, crebo)
            SELECT p.user_id, s.id, 'S' || p.school_idx || '-' || p.local_idx, '2024', '25655'
            FROM bench_pool p JOIN bench_school s ON s.idx = p.school_idx WHERE p.role = 'student'"""))
        c.execute(text("UPDATE bench_pool p SET student_id = st.id FROM student st WHERE st.user_id = p.user_id"))

        # -- the copies: a mapping table, then one INSERT ... SELECT per table ---------------------
        base = c.execute(text("SELECT max(id) FROM process_instance")).scalar()
        h = "(hashint4({}::int4)::int8 & 2147483647)"
        joins = "\n".join(
            f"JOIN bench_pool p_{r} ON p_{r}.role = '{r}' AND p_{r}.school_idx = g.si "
            f"AND p_{r}.local_idx = {h.format(f'g.g * {len(PER_PERSON) + 3} + {i}')} % {sizes[r]}"
            for i, r in enumerate(PER_PERSON)
        )
        c.execute(text(f"""
            CREATE TABLE bench_map AS
            SELECT g.g, {base} + g.g AS new_id, g.tpl, s.id AS school_id,
                   p_student.student_id, p_student.user_id AS student_user,
                   p_roc_begeleider.user_id AS roc_begeleider,
                   p_praktijkbegeleider.user_id AS praktijkbegeleider,
                   p_praktijkbeoordelaar.user_id AS praktijkbeoordelaar,
                   p_roc_beoordelaar.user_id AS roc_beoordelaar,
                   p_examencommissie.user_id AS commissie,
                   CASE WHEN g.tpl = ANY(CAST(:ctpl AS int[]))
                             AND {h.format(f'g.g * {len(PER_PERSON) + 3} + 7')} % 100 < {round(school_wide_share * 100)}
                        THEN NULL ELSE p_examencommissie.user_id END AS vaststeller,
                   now() - make_interval(secs => ({copies} - g.g)::float8 / {copies} * 63072000) AS started_at
            FROM (SELECT g, g % {schools} AS si,
                         CASE WHEN {h.format(f'g * {len(PER_PERSON) + 3} + 8')} % 100 < {round(completed_share * 100)}
                              THEN {done_tpl}
                              ELSE (CAST(:otpl AS int[]))[
                                  {h.format(f'g * {len(PER_PERSON) + 3} + 9')} % {len(open_tpl)} + 1]
                         END AS tpl
                  FROM generate_series(1, {copies}) g) g
            JOIN bench_school s ON s.idx = g.si
            {joins}"""), {"ctpl": commissie_tpl, "otpl": open_tpl})
        c.execute(text("CREATE UNIQUE INDEX ON bench_map (g)"))
        c.execute(text(_copy_sql(
            c, "process_instance",
            "bench_map m JOIN process_instance t ON t.id = m.tpl JOIN process_instance ti ON ti.id = m.tpl "
            "JOIN app_user su ON su.id = m.student_user", order="m.g")))
        c.execute(text("SELECT setval('process_instance_id_seq', (SELECT max(id) FROM process_instance))"))
        c.execute(text(_copy_sql(
            c, "participant", "bench_map m JOIN participant t ON t.instance_id = m.tpl",
            where="NOT (t.role = 'examencommissie' AND m.vaststeller IS NULL)", order="m.g, t.id")
            .replace("ti.started_at", "m.started_at")))
        c.execute(text(_copy_sql(
            c, "human_task",
            "bench_map m JOIN process_instance ti ON ti.id = m.tpl JOIN human_task t ON t.instance_id = m.tpl",
            order="m.g, t.id")))
        if "exam_assignment" in tables:
            c.execute(text(_copy_sql(
                c, "exam_assignment",
                "bench_map m JOIN process_instance ti ON ti.id = m.tpl "
                "JOIN exam_assignment t ON t.instance_id = m.tpl", order="m.g")))

        # -- (a): a praktijkbegeleider with exactly 20 open tasks, spread over the table ----------
        target_a = c.execute(text("""
            INSERT INTO app_user (email, name, active, session_version, created_at)
            VALUES ('doel-praktijkbegeleider@bench.nl', 'Doel Praktijkbegeleider', true, 1, now()) RETURNING id""")
                             ).scalar()
        c.execute(text("INSERT INTO role_membership (user_id, school_id, role) "
                       "SELECT :u, id, 'praktijkbegeleider' FROM bench_school"), {"u": target_a})
        moved = c.execute(text("""
            UPDATE human_task SET assignee_id = :u WHERE id IN (
                SELECT id FROM human_task WHERE status = 'open' AND lane_role = 'praktijkbegeleider'
                ORDER BY md5(id::text) LIMIT 20) RETURNING instance_id"""), {"u": target_a}).scalars().all()
        if len(moved) != 20:
            raise SystemExit(f"only {len(moved)} open praktijkbegeleider tasks at this scale")
        c.execute(text("UPDATE participant SET user_id = :u WHERE role = 'praktijkbegeleider' "
                       "AND instance_id = ANY(:ids)"), {"u": target_a, "ids": moved})
        # -- (b): the first examencommissie member of school 0 ------------------------------------
        target_b = c.execute(text("SELECT user_id FROM bench_pool WHERE role = 'examencommissie' "
                                  "AND school_idx = 0 AND local_idx = 0")).scalar()
        for t in ("bench_map", "bench_pool", "bench_school"):
            c.execute(text(f"DROP TABLE {t}"))
    # Passwords (cheap argon2 parameters, the bench's hasher) for the HTML page's login.
    pw = accounts.hash_password(PASSWORD)
    with w.db.begin() as c:
        c.execute(text("UPDATE app_user SET password_hash = :h WHERE id IN (:a, :b)"),
                  {"h": pw, "a": target_a, "b": target_b})
    with w.db.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))
    with w.db.connect() as c:
        counts = {"templates": len(templates)}
        counts.update({t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                       for t in ("process_instance", "participant", "human_task", "app_user")})
        counts["open tasks"] = c.execute(text("SELECT count(*) FROM human_task WHERE status = 'open'")).scalar()
        counts["db size"] = c.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
        counts["state avg bytes"] = c.execute(text("SELECT avg(length(state))::int FROM process_instance")).scalar()
    w.db.dispose()
    counts["setup s"] = round(time.perf_counter() - t_start, 1)
    return {"a": target_a, "b": target_b, "counts": counts}


# ----------------------------------------------------------------------------- measuring


def measure(url: str, users: dict[str, int], iterations: int, warmup: int, explain: bool) -> dict:
    from sqlalchemy import text

    from processes import accounts, queries
    from webapp import create_app

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "EXAMENFLOW_ARGON2_FAST": True,
                      "EXAMENFLOW_INSTANCE_DIR": tempfile.mkdtemp()})
    svc = app.extensions["examenflow"]
    out = {}
    for label, uid in users.items():
        token = accounts.create_api_token(uid, "bench", svc.uow())
        with svc.uow() as u:
            email = u.session.execute(text("SELECT email FROM app_user WHERE id = :i"), {"i": uid}).scalar()
        api = app.test_client()
        html = app.test_client()
        page = html.get("/inloggen").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        r = html.post("/inloggen", data={"email": email, "wachtwoord": PASSWORD, "csrf_token": csrf})
        assert r.status_code == 302, r.status_code

        def use_case(uid=uid):
            return queries.list_my_tasks(uid, svc.uow())

        def via_api(api=api, token=token):
            r = api.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
            return r

        def via_html(html=html):
            r = html.get("/taken")
            assert r.status_code == 200
            return r

        first = use_case()
        assert via_api().get_json()["total"] == first.total
        for method, fn in (("use case", use_case), ("GET /api/v1/tasks", via_api), ("GET /taken", via_html)):
            for _ in range(warmup):
                fn()
            lat = []
            for _ in range(iterations):
                t0 = time.perf_counter()
                fn()
                lat.append((time.perf_counter() - t0) * 1000)
            out[(label, method)] = {**summary(lat), "total": first.total, "rows": len(first.items)}
        if explain:
            out[(label, "plan")] = _explain(svc, use_case)
    svc.engine.dispose()
    return out


def _explain(svc, run) -> list[str]:
    """EXPLAIN ANALYZE of every statement list_my_tasks sends."""
    from sqlalchemy import event

    seen = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(svc.engine, "before_cursor_execute", grab)
    try:
        run()
    finally:
        event.remove(svc.engine, "before_cursor_execute", grab)
    plans = []
    raw = svc.engine.raw_connection()
    try:
        cur = raw.cursor()
        for statement, params in seen:
            if "human_task" not in statement:
                continue
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, params)
            plans.append("\n".join(r[0] for r in cur.fetchall()))
        raw.rollback()
    finally:
        raw.close()
    return plans


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="1000,100000", help="instance counts (default 1000,100000)")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--schools", type=int, default=4)
    ap.add_argument("--completed-share", type=float, default=0.5)
    ap.add_argument("--school-wide-share", type=float, default=0.5)
    ap.add_argument("--explain", action="store_true", help="print the query plans (EXPLAIN ANALYZE)")
    args = ap.parse_args()
    _common.quiet_logs()
    _common.fast_hasher()
    scales = [int(s) for s in args.scales.split(",")]
    print(_common.machine_note("start"), flush=True)

    results, worlds = {}, {}
    for n in scales:
        url = _common.recreate_database()
        print(f"building {n} instances ...", flush=True)
        world = build(url, n, args.schools, args.completed_share, args.school_wide_share)
        worlds[n] = world
        print("  " + ", ".join(f"{k}: {v}" for k, v in world["counts"].items()), flush=True)
        results[n] = measure(url, {"(a) participant": world["a"], "(b) school-wide": world["b"]},
                             args.iterations, args.warmup, args.explain)

    keys = [k for k in results[scales[0]] if k[1] != "plan"]
    rows = []
    for key in keys:
        row = [f"{key[0]}  {key[1]}"]
        for n in scales:
            r = results[n][key]
            row += [r["median"], r["p95"], f"{r['rows']}/{r['total']}"]
        if len(scales) > 1:
            ratio = results[scales[-1]][key]["median"] / results[scales[0]][key]["median"]
            row += [f"{ratio:.2f}", "ok" if ratio <= GOAL_RATIO else "MISSED"]
        rows.append(row)
    headers = ["Mijn taken, first page (ms)"]
    for n in scales:
        headers += [f"{n} med", f"{n} p95", "rows/total"]
    if len(scales) > 1:
        headers += [f"{scales[-1]}/{scales[0]}", f"goal <={GOAL_RATIO}"]
    print()
    print(table(headers, rows, title=f"Inbox bench: PostgreSQL, {args.schools} schools, "
                                     f"{args.completed_share:.0%} completed, n={args.iterations} per cell"))
    print("peer (design.md): SpiffArena inbox 34 ms at 1,000 open instances, 46-59 ms at 10,000")
    print(_common.machine_note("end"))
    if args.explain:
        for n in scales:
            for key, plans in results[n].items():
                if key[1] == "plan":
                    for plan in plans:
                        print(f"\n-- {n} instances, {key[0]}:\n{plan}")


if __name__ == "__main__":
    main()
