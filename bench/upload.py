"""Benchmark: a 512 MiB piece of evidence through gunicorn, in resumable chunks (issue 8).

Sets up one PvB at the evidence step (PostgreSQL database ``examenflow_bench_upload``, dropped and
re-created; storage in a temporary folder), starts gunicorn with the README's production command,
writes a file of random bytes and sends it as the student would through the API (``POST
/api/v1/uploads``, then ``PUT`` chunks with ``Upload-Offset``). Halfway, one chunk is cut off: the
client sends half of it and closes the socket; it then asks where the server is (``GET``) and goes
on from there. Meanwhile a thread samples the resident memory (VmRSS) of every gunicorn worker.

Prints: throughput, the worker's RSS before and at its peak (goal: growth < 50 MB), the offset the
server had kept after the cut, and whether the stored file's SHA-256 equals the sent file's.

    .venv/bin/python bench/upload.py                 # 512 MiB, 8 MiB chunks
    .venv/bin/python bench/upload.py --mib 64 --chunk-mib 4
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

from _common import REPO, fast_hasher, machine_note, quiet_logs, recreate_database, table
from complete import free_port, start_gunicorn

DB = "examenflow_bench_upload"
MIB = 1024 * 1024
GOAL_RSS_MB = 50


def setup(url: str) -> tuple[int, str]:
    """One school with the test world's people; a PvB walked to the evidence step. Returns (instance,
    the student's bearer token)."""
    from processes import accounts, versions
    from processes.db import UnitOfWork, make_engine, make_session_factory
    from processes.schema import upgrade_database
    from tests.conftest import PEOPLE, STUDENTS, World
    from tests.support.walk import start_and_walk_to

    engine = make_engine(url)
    upgrade_database(engine)
    sf = make_session_factory(engine)

    def uow():
        return UnitOfWork(sf)

    w = World()
    w.schools["a"] = accounts.create_school("roc-a", "ROC A", uow())
    w.schools["b"] = accounts.create_school("roc-b", "ROC B", uow())
    for key, (name, roles) in PEOPLE.items():
        w.users[key] = accounts.create_user(w.email(key), name, None, uow())
        for school, role in roles:
            accounts.grant_role(w.users[key], w.schools[school], role, uow())
    for key, (name, school, number) in STUDENTS.items():
        w.users[key] = accounts.create_user(w.email(key), name, None, uow())
        w.students[key] = accounts.create_student(w.users[key], w.schools[school], number, "2024", "25655", uow())
    versions.deploy_shipped(uow())
    instance, task = start_and_walk_to(w, uow, "bewijsstukken_uploaden")
    assert task is not None, "the walk did not reach the evidence step"
    token = accounts.create_api_token(w.users["student_a"], "bench", uow())
    engine.dispose()
    return instance, token


def write_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(MIB, left))
            digest.update(block)
            f.write(block)
            left -= len(block)
    return digest.hexdigest()


def rss_kb(pid: int) -> int:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def workers(master: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                out.append(int(entry))
    return out


class RssSampler(threading.Thread):
    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.pids = pids
        self.before = {p: rss_kb(p) for p in pids}
        self.peak = dict(self.before)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for p in self.pids:
                self.peak[p] = max(self.peak[p], rss_kb(p))
            time.sleep(0.02)


def api(conn: HTTPConnection, method: str, path: str, token: str, body=None, headers=None) -> tuple[int, dict]:
    h = {"Authorization": f"Bearer {token}", **(headers or {})}
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, (json.loads(data) if data else {})


def warm_up(port: int, token: str, instance: int, requests: int) -> None:
    """A small upload in 1-byte-short chunks, so that every worker has served an upload request (the first
    request of a worker loads the app's modules and templates; that is not what the upload costs)."""
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    size = requests * 64 * 1024
    status, body = api(conn, "POST", "/api/v1/uploads", token,
                       json.dumps({"instance_id": instance, "kind": "bewijs", "name": "opwarmen.bin", "size": size}),
                       {"Content-Type": "application/json"})
    assert status == 201, body
    for i in range(requests):
        conn.close()  # sync workers close after each response anyway; a new connection may reach another
        conn = HTTPConnection("127.0.0.1", port, timeout=30)
        status, body = api(conn, "PUT", f"/api/v1/uploads/{body['id']}", token, os.urandom(64 * 1024),
                           {"Upload-Offset": str(i * 64 * 1024), "Content-Type": "application/offset+octet-stream"})
        assert status == 200, body
    conn.close()


def cut_chunk(port: int, token: str, upload_id: str, offset: int, data: bytes) -> None:
    """Sends the headers of a chunk and half its bytes, then drops the connection."""
    head = (f"PUT /api/v1/uploads/{upload_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nUpload-Offset: {offset}\r\n"
            f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head + data[: len(data) // 2])
    time.sleep(0.3)
    sock.close()
    time.sleep(0.5)  # the worker notices the broken body and keeps what arrived


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=512, help="file size in MiB (default 512)")
    parser.add_argument("--chunk-mib", type=int, default=8, help="chunk size in MiB (default 8)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (README: 4)")
    args = parser.parse_args()
    quiet_logs()
    fast_hasher()
    print(machine_note("start"), flush=True)
    url = recreate_database(DB)
    instance, token = setup(url)
    size, chunk = args.mib * MIB, args.chunk_mib * MIB
    with tempfile.TemporaryDirectory(prefix="examenflow-upload-") as tmp:
        source = Path(tmp) / "bewijs.bin"
        t0 = time.perf_counter()
        expected = write_file(source, size)
        print(f"file: {args.mib} MiB of random bytes written in {time.perf_counter() - t0:.1f} s", flush=True)
        port = free_port()
        os.environ["EXAMENFLOW_UPLOAD_CHUNK_BYTES"] = str(chunk)
        server, cmdline = start_gunicorn(url, port, args.workers, 1, "sync", tmp)
        try:
            pids = workers(server.pid)
            cold = {p: rss_kb(p) for p in pids}
            warm_up(port, token, instance, args.workers * 4)
            sampler = RssSampler(pids)
            sampler.start()
            conn = HTTPConnection("127.0.0.1", port, timeout=120)
            status, body = api(conn, "POST", "/api/v1/uploads", token,
                               json.dumps({"instance_id": instance, "kind": "bewijs", "name": "bewijs.bin",
                                           "content_type": "video/mp4", "size": size}),
                               {"Content-Type": "application/json"})
            assert status == 201, body
            upload_id, offset = body["id"], 0
            cut_at, kept_after_cut, resumed = size // 2, None, False
            start = time.perf_counter()
            with open(source, "rb") as f:
                while offset < size:
                    f.seek(offset)
                    data = f.read(min(chunk, size - offset))
                    if not resumed and offset >= cut_at:
                        cut_chunk(port, token, upload_id, offset, data)
                        conn.close()
                        conn = HTTPConnection("127.0.0.1", port, timeout=120)
                        status, body = api(conn, "GET", f"/api/v1/uploads/{upload_id}", token)
                        kept_after_cut, resumed = body["offset"], True
                        offset = body["offset"]
                        continue
                    status, body = api(conn, "PUT", f"/api/v1/uploads/{upload_id}", token, data,
                                       {"Upload-Offset": str(offset),
                                        "Content-Type": "application/offset+octet-stream"})
                    if status == 409 and "offset" in body:
                        offset = body["offset"]
                        continue
                    assert status == 200, (status, body)
                    offset = body["offset"]
            took = time.perf_counter() - start
            sampler.stop.set()
            sampler.join()
            assert body["done"], body
            stored = Path(tmp) / "storage" / expected
            stored_digest = hashlib.sha256()
            with open(stored, "rb") as f:
                while block := f.read(MIB):
                    stored_digest.update(block)
            rows = [[f"worker {p}", cold[p] / 1024, sampler.before[p] / 1024, sampler.peak[p] / 1024,
                     (sampler.peak[p] - sampler.before[p]) / 1024] for p in pids]
            growth = max((sampler.peak[p] - sampler.before[p]) / 1024 for p in pids)
            print(table(["process", "RSS cold MB", "after warm-up MB", "peak MB", "growth MB"], rows,
                        title=f"Upload bench: gunicorn {cmdline}\n"
                              f"{args.mib} MiB in {args.chunk_mib} MiB chunks, one chunk cut off at "
                              f"{cut_at / MIB:.0f} MiB"))
            print(f"time: {took:.1f} s, {args.mib / took:.0f} MiB/s (including the cut and the final SHA-256)")
            print(f"cut chunk: began at {cut_at / MIB:.1f} MiB, server kept {kept_after_cut / MIB:.2f} MiB "
                  f"({kept_after_cut - cut_at} bytes of the cut chunk), resumed from there")
            same = stored_digest.hexdigest() == expected == body["sha256"]
            print(f"checksum: sent {expected[:16]}…, reported {body['sha256'][:16]}…, stored "
                  f"{stored_digest.hexdigest()[:16]}…: {'equal' if same else 'DIFFERENT'}")
            from_cold = max((sampler.peak[p] - cold[p]) / 1024 for p in pids)
            print(f"largest RSS growth of a worker during the upload: {growth:.1f} MB (goal < {GOAL_RSS_MB} MB): "
                  f"{'met' if growth < GOAL_RSS_MB else 'NOT met'}; from cold, its first requests included: "
                  f"{from_cold:.1f} MB")
        finally:
            server.terminate()
            server.wait(10)
    print(machine_note("end"))


if __name__ == "__main__":
    os.chdir(REPO)
    main()
