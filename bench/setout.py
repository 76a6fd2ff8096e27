"""Benchmark 6: setting out a PvB for a whole group (R9) of 500 students in one action.

    .venv/bin/python bench/setout.py [--students 500] [--database-url URL]

The database examenflow_bench_setout (PostgreSQL, dropped and re-created) is migrated, the shipped
diagrams are deployed, and one school is filled with a ROC-begeleider, an assignment in its bank and
--students students (inserted in bulk: setting up is not what is measured). Then, timed, the use
case behind the admin's "Uitzetten" page and `examenflow pvb set-out`: processes.runner.set_out_pvbs,
which starts one PvB per student in ONE transaction (all or nothing), each with its first task in
the begeleider's inbox and its first audit event. Goal: 500 in at most 5 s.
"""

from __future__ import annotations

import argparse
import time

import _common
from _common import machine_note
from sqlalchemy import insert

DB_NAME = "examenflow_bench_setout"
MODEL = {"werkprocessen": [{"code": "B1-K1-W1", "title": "Werkproces", "rule": "all_crucial",
                            "criteria": [{"id": "c1", "text": "Criterium", "crucial": True}]}]}


def setup(url: str, students: int):
    from processes import accounts, assignments, versions
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
    docent = accounts.create_user("docent@bench.nl", "Docent", "bench-wachtwoord", uow())
    accounts.grant_role(docent, school, "roc_begeleider", uow())
    assignment = assignments.create_assignment(school, "PVB-1", "Proeve", "Tekst", MODEL, uow(), established=True)
    with engine.begin() as conn:
        ids = conn.execute(insert(User).returning(User.id, sort_by_parameter_order=True), [
            {"email": f"student{i}@bench.nl", "name": f"Student {i}", "active": True, "session_version": 1,
             "task_mail": True} for i in range(students)]).scalars().all()
        conn.execute(insert(RoleMembership), [{"user_id": uid, "school_id": school, "role": "student"}
                                              for uid in ids])
        student_ids = conn.execute(insert(Student).returning(Student.id, sort_by_parameter_order=True), [
            {"user_id": uid, "school_id": school, "student_number": f"B{i:06d}", "cohort": "2025",
             "crebo": "25655"} for i, uid in enumerate(ids)]).scalars().all()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    return engine, uow, school, docent, assignment, student_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--database-url", help="instead of re-creating examenflow_bench_setout on the local PostgreSQL")
    args = parser.parse_args()

    _common.quiet_logs()
    _common.fast_hasher()
    print(machine_note("start"))
    url = args.database_url or _common.recreate_database(DB_NAME)
    engine, uow, school, docent, assignment, student_ids = setup(url, args.students)

    from processes.runner import set_out_pvbs

    t0 = time.perf_counter()
    created = set_out_pvbs(school, student_ids, docent, uow(), assignment_id=assignment)
    wall = time.perf_counter() - t0
    print(f"set_out_pvbs on {engine.dialect.name}: {len(created)} PvBs in one transaction in {wall:.2f} s "
          f"({wall / len(created) * 1000:.1f} ms each; goal for 500: <= 5 s)")
    print(machine_note("end"))
    engine.dispose()


if __name__ == "__main__":
    main()
