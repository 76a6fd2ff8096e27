"""Benchmark 5: automatic registration (R41) of a cohort of 2,000 students for 10 exams.

    .venv/bin/python bench/enrol.py [--students 2000] [--exams 10] [--batch 500] [--database-url URL]

The database examenflow_bench_enrol (PostgreSQL, dropped and re-created) is migrated, the shipped
diagrams are deployed, and one school is filled: an examenbureau, a vakdocent and an assessor,
--exams exams of one crebo, and --students students of that crebo and cohort (accounts and students
inserted in bulk: setting up is not what is measured). Then, timed, the use case the CLI
(`examenflow exam register-cohort`) and the scheduler's daily round call:
processes.registrations.register_cohort, which starts one `aanmelden` process per student and exam
(waiting for the teacher's Go), with its participants, the Go task in the teacher's inbox and the
first audit event, committing every --batch registrations.

Printed: wall time, registrations per second, the process's peak resident set (ru_maxrss) and its
growth during the run, with --tracemalloc also the peak of Python allocations (which slows the run),
plus a second run, which finds everything registered and creates nothing (the daily round's usual
case).
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import _common
from _common import machine_note, table
from sqlalchemy import insert

DB_NAME = "examenflow_bench_enrol"
CREBO, COHORT = "25655", "2025"


def setup(url: str, students: int, exams: int):
    from processes import accounts, versions
    from processes import enrolment as enr
    from processes.db import UnitOfWork, make_engine, make_session_factory
    from processes.models import RoleMembership, Student, User
    from processes.schema import upgrade_database

    engine = make_engine(url)
    upgrade_database(engine)
    factory = make_session_factory(engine)

    def uow() -> UnitOfWork:
        return UnitOfWork(factory)

    versions.deploy_shipped(uow())
    school = accounts.create_school("bench", "ROC Bench", uow())
    people = {}
    for key, role in (("bureau", "examenbureau"), ("docent", "roc_begeleider"), ("beoordelaar", "roc_beoordelaar")):
        people[key] = accounts.create_user(f"{key}@bench.nl", key.title(), "bench-wachtwoord", uow())
        accounts.grant_role(people[key], school, role, uow())
    password_hash = accounts.hash_password("bench-wachtwoord")
    with engine.begin() as conn:
        ids = conn.execute(insert(User).returning(User.id, sort_by_parameter_order=True), [
            {"email": f"student{i}@bench.nl", "name": f"Student {i}", "password_hash": password_hash,
             "active": True, "session_version": 1} for i in range(students)]).scalars().all()
        conn.execute(insert(RoleMembership), [
            {"user_id": uid, "school_id": school, "role": "student"} for uid in ids])
        conn.execute(insert(Student), [
            {"user_id": uid, "school_id": school, "student_number": f"B{i:06d}", "cohort": COHORT,
             "crebo": CREBO} for i, uid in enumerate(ids)])
    for n in range(exams):
        exam_id = enr.create_exam(school, f"EX-{n + 1:02d}", f"Examen {n + 1}", CREBO, people["bureau"], uow(),
                                  teacher_id=people["docent"], assessor_id=people["beoordelaar"])
        enr.add_version(exam_id, people["bureau"], uow(), cesuur=55)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    return engine, uow, school


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--exams", type=int, default=10)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database-url", help="instead of re-creating examenflow_bench_enrol on the local PostgreSQL")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace Python allocations (peak); slows the run two- to threefold")
    args = parser.parse_args()

    _common.quiet_logs()
    _common.fast_hasher()
    print(machine_note("start"))
    url = args.database_url or _common.recreate_database(DB_NAME)
    t0 = time.perf_counter()
    engine, uow, school = setup(url, args.students, args.exams)
    print(f"setup: {args.students} students, {args.exams} exams in {time.perf_counter() - t0:.1f} s")

    from processes.registrations import register_cohort

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if args.tracemalloc:
        tracemalloc.start()
    t0 = time.perf_counter()
    outcome = register_cohort(school, None, uow(), batch_size=args.batch)
    wall = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    t0 = time.perf_counter()
    again = register_cohort(school, None, uow(), batch_size=args.batch)
    rerun = time.perf_counter() - t0

    rows = [
        ["first run", outcome.created, f"{wall:.1f}", f"{outcome.created / wall:.0f}" if wall else "-",
         f"{wall / max(outcome.created, 1) * 1000:.2f}", f"{peak / 2**20:.1f}" if peak is not None else "-",
         f"{rss_after / 1024:.1f}", f"{(rss_after - rss_before) / 1024:.1f}"],
        ["second run (nothing new)", again.created, f"{rerun:.1f}", "-", "-", "-", "-", "-"],
    ]
    print(table(["run", "registrations", "seconds", "per second", "ms each", "peak Python MiB (tracemalloc)",
                 "peak RSS MiB", "RSS growth MiB"], rows,
                title=f"register_cohort: {args.students} students x {args.exams} exams on {engine.dialect.name}"))
    print(f"already registered on the second run: {again.already}")
    print(machine_note("end"))
    engine.dispose()


if __name__ == "__main__":
    main()
