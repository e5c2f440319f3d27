"""Extension jobs kept on disk, so that a client that lost its stream can resume a job on this
server after a restart, or on another server sharing the folder.

A job is a folder `<store>/<job_id>/` with `request.pb` (the ExtendRequest as received: the input
clip and the settings) and `job.json` (the model that ran it, the frames it makes, the frames
sent so far). The engine is deterministic (same model, seed and input: same bits), so the request
is all a resume needs: the job runs again and the frames the client has are not sent. No session
state is saved, hence nothing to unpickle and nothing that depends on the engine's internals.

Several servers may share a store: a job appears whole (written in a temporary folder, then
renamed) and every write replaces a file by renaming. A job expires once it has made no progress
for ttl_seconds (job.json's modification time, rewritten as frames are sent); storing a new job
removes expired jobs, then the least recently active ones while the store would exceed max_bytes.

What the store holds is also kept in memory (each job's last activity and whether every frame was
sent), so that counting its jobs by state (`census`, read by every metrics scrape) touches no
disk. The folder is read whole when the store opens and whenever this server stores a job, which
is also when jobs that other servers sharing it made or removed are seen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import secrets
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator

from serve.limits import echo
from serve.wire import stream_pb2 as pb

_ID = re.compile(r"[0-9a-f]{32}")
_REQUEST = "request.pb"
_META = "job.json"
_PARTIAL = ".partial-"  # prefix of a job folder being written
# A job id is all it takes to resume a job and get its frames, so only the server's user may list
# the store or read a job: folders rwx------, files rw-------, whatever the umask.
_FOLDER_MODE = 0o700
_FILE_MODE = 0o600

JOB_STATES = ("resumable", "complete", "expired")  # what census counts


class UnknownJob(LookupError):
    """The store holds no such job (never made, expired or evicted)."""


@dataclasses.dataclass(frozen=True)
class StoredJob:
    job_id: str
    request: pb.ExtendRequest
    model: str  # name of the engine that took the job; another model makes other frames
    generated_frames: int  # frames the job makes in all


@dataclasses.dataclass(frozen=True)
class _Known:
    """A job as the store last wrote or read it."""

    active: float  # job.json's modification time: the job's last progress
    complete: bool  # every frame has been sent once
    removed: bool = False  # by this server: a reading of the folder begun before must not undo it
    stamp: int = 0  # the store's count of notes when this was noted; 0: read from the folder


def check_job_id(job_id: str) -> str:
    if not _ID.fullmatch(job_id):
        raise ValueError(
            f"job_id={echo(job_id)} is not a job id; accepted: the 32 hexadecimal digits of "
            "ExtendJob.job_id"
        )
    return job_id


class JobStore:
    """Thread-safe for distinct jobs; the server calls it from its thread pool, and its metrics
    (census) from their HTTP thread."""

    def __init__(self, directory: str | os.PathLike[str], ttl_seconds: float, max_bytes: int):
        if not ttl_seconds > 0:
            raise ValueError(f"job_ttl_seconds={ttl_seconds} is out of range; accepted: > 0")
        if max_bytes < 1:
            raise ValueError(f"job_store_bytes={max_bytes} is out of range; accepted: >= 1")
        self.directory = pathlib.Path(directory).expanduser()
        try:
            self.directory.mkdir(_FOLDER_MODE, parents=True, exist_ok=True)
            self.directory.chmod(_FOLDER_MODE)  # also a folder made before, or by someone else
        except OSError as error:
            raise ValueError(
                f"job store {str(self.directory)!r}: cannot create it or make it private "
                f"({error.strerror}); accepted: a writable folder this user owns"
            ) from error
        self.ttl_seconds = ttl_seconds
        self.max_bytes = max_bytes
        self._lock = threading.Lock()  # guards the three below
        self._known: dict[str, _Known] = {}
        self._changes = 0  # notes made in _known, which stamp them
        self._running: Counter[str] = Counter()  # ids of the jobs this server is running now
        self._reread(self._jobs(), 0)

    def create(self, request: pb.ExtendRequest, model: str, generated_frames: int) -> str:
        """Stores a new job; returns its id."""
        data = request.SerializeToString()
        meta = json.dumps({"model": model, "generated_frames": generated_frames, "sent": 0})
        self._make_room(len(data) + len(meta))
        job_id = secrets.token_hex(16)
        partial = self.directory / f"{_PARTIAL}{job_id}"
        partial.mkdir(_FOLDER_MODE)
        _write_private(partial / _REQUEST, data)
        _write_private(partial / _META, meta.encode())
        active = (partial / _META).stat().st_mtime  # a rename keeps it
        partial.rename(self.directory / job_id)
        self._note(job_id, _Known(active, complete=False))
        return job_id

    def load(self, job_id: str) -> StoredJob:
        folder = self.directory / check_job_id(job_id)
        try:
            if time.time() - (folder / _META).stat().st_mtime > self.ttl_seconds:
                raise UnknownJob(
                    f"job_id={job_id}: expired (no progress for the server's "
                    f"--job-ttl-seconds, {self.ttl_seconds:g} s)"
                )
            meta = json.loads((folder / _META).read_text())
            request = pb.ExtendRequest.FromString((folder / _REQUEST).read_bytes())
        except FileNotFoundError as error:
            raise UnknownJob(
                f"job_id={job_id}: no such job in the job store (never made, expired or evicted "
                "to bound the store's size); accepted: the id of a job made within the "
                "server's --job-ttl-seconds"
            ) from error
        return StoredJob(job_id, request, meta["model"], meta["generated_frames"])

    def progress(self, job_id: str, sent: int) -> None:
        """Records frames sent, which keeps the job from expiring; a job removed meanwhile stays
        removed."""
        folder = self.directory / job_id
        try:
            meta = json.loads((folder / _META).read_text())
            meta["sent"] = max(meta["sent"], sent)
            temporary = folder / f"{_META}.{secrets.token_hex(4)}"
            _write_private(temporary, json.dumps(meta).encode())
            active = temporary.stat().st_mtime
            temporary.replace(folder / _META)
        except FileNotFoundError:
            return
        self._note(job_id, _Known(active, complete=meta["sent"] >= meta["generated_frames"]))

    def remove(self, job_id: str) -> None:
        self._delete(self.directory / job_id)

    @contextlib.contextmanager
    def running(self, job_id: str) -> Iterator[None]:
        """Marks the job as running on this server for the block: census leaves it out, since
        the server counts its running jobs itself (jobs without a store included)."""
        with self._lock:
            self._running[job_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[job_id] -= 1
                if not self._running[job_id]:
                    del self._running[job_id]

    def census(self) -> dict[str, int]:
        """Stored jobs not running on this server, by state (JOB_STATES): resumable (not every
        frame sent yet), complete (every frame sent once; still resumable), expired (no progress
        for ttl_seconds: no longer resumable, and removed when a job is next stored). Read from
        memory: it costs a look at each stored job, no disk access."""
        now = time.time()
        counts = dict.fromkeys(JOB_STATES, 0)
        with self._lock:
            for job_id, known in self._known.items():
                if known.removed or job_id in self._running:
                    continue
                if now - known.active > self.ttl_seconds:
                    counts["expired"] += 1
                else:
                    counts["complete" if known.complete else "resumable"] += 1
        return counts

    def disk_bytes(self) -> int:
        return sum(size for _, _, size in self._jobs())

    def _make_room(self, size: int) -> None:
        """Removes expired jobs, then the least recently active, until size more bytes fit."""
        with self._lock:
            before = self._changes
        now = time.time()
        kept = []
        for job in sorted(self._jobs()):  # oldest first
            modified, folder, _ = job
            if now - modified > self.ttl_seconds:
                self._delete(folder)
            else:
                kept.append(job)
        total = sum(job_size for _, _, job_size in kept)
        evicted = 0
        while evicted < len(kept) and total + size > self.max_bytes:
            _, folder, job_size = kept[evicted]
            self._delete(folder)
            total -= job_size
            evicted += 1
        self._reread(kept[evicted:], before)

    def _delete(self, folder: pathlib.Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        if _ID.fullmatch(folder.name):
            self._note(folder.name, _Known(0.0, complete=False, removed=True))

    def _note(self, job_id: str, known: _Known) -> None:
        with self._lock:
            self._changes += 1
            self._known[job_id] = dataclasses.replace(known, stamp=self._changes)

    def _reread(self, jobs: list[tuple[float, pathlib.Path, int]], before: int) -> None:
        """Makes the memory of the store what `jobs` (the folder, read after `before` notes)
        says, but for the notes made since: they are newer than that reading."""
        with self._lock:
            remembered = dict(self._known)
        read = {}
        for modified, folder, _ in jobs:
            job_id = folder.name
            if not _ID.fullmatch(job_id):  # being written, or left part-written by a killed server
                continue
            known = remembered.get(job_id)
            if known is not None and not known.removed and known.active == modified:
                read[job_id] = known  # unchanged: no need to read job.json again
                continue
            try:  # another server may remove a job while we look
                meta = json.loads((folder / _META).read_text())
            except FileNotFoundError:
                continue
            read[job_id] = _Known(modified, complete=meta["sent"] >= meta["generated_frames"])
        with self._lock:
            newer = {job_id: k for job_id, k in self._known.items() if k.stamp > before}
            self._known = read | newer

    def _jobs(self) -> list[tuple[float, pathlib.Path, int]]:
        """(last activity, folder, bytes) of every job, and of partial folders a killed server
        left (which expire like jobs)."""
        found = []
        for folder in self.directory.iterdir():
            name = folder.name.removeprefix(_PARTIAL)
            if not _ID.fullmatch(name):
                continue
            try:  # another server may remove a job while we look
                files = [(path, path.stat()) for path in folder.iterdir()]
                modified = max((stat.st_mtime for _, stat in files), default=0.0)
            except FileNotFoundError:
                continue
            found.append((modified, folder, sum(stat.st_size for _, stat in files)))
        return found


def _write_private(path: pathlib.Path, data: bytes) -> None:
    """Writes a new file that only this user can read, from its first byte on."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
