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
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import secrets
import shutil
import time

from serve.limits import echo
from serve.wire import stream_pb2 as pb

_ID = re.compile(r"[0-9a-f]{32}")
_REQUEST = "request.pb"
_META = "job.json"
_PARTIAL = ".partial-"  # prefix of a job folder being written


class UnknownJob(LookupError):
    """The store holds no such job (never made, expired or evicted)."""


@dataclasses.dataclass(frozen=True)
class StoredJob:
    job_id: str
    request: pb.ExtendRequest
    model: str  # name of the engine that took the job; another model makes other frames
    generated_frames: int  # frames the job makes in all


def check_job_id(job_id: str) -> str:
    if not _ID.fullmatch(job_id):
        raise ValueError(
            f"job_id={echo(job_id)} is not a job id; accepted: the 32 hexadecimal digits of "
            "ExtendJob.job_id"
        )
    return job_id


class JobStore:
    """Thread-safe for distinct jobs; the server calls it from its thread pool."""

    def __init__(self, directory: str | os.PathLike[str], ttl_seconds: float, max_bytes: int):
        if not ttl_seconds > 0:
            raise ValueError(f"job_ttl_seconds={ttl_seconds} is out of range; accepted: > 0")
        if max_bytes < 1:
            raise ValueError(f"job_store_bytes={max_bytes} is out of range; accepted: >= 1")
        self.directory = pathlib.Path(directory).expanduser()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(
                f"job store {str(self.directory)!r}: cannot create it ({error.strerror}); "
                "accepted: a writable folder"
            ) from error
        self.ttl_seconds = ttl_seconds
        self.max_bytes = max_bytes

    def create(self, request: pb.ExtendRequest, model: str, generated_frames: int) -> str:
        """Stores a new job; returns its id."""
        data = request.SerializeToString()
        meta = json.dumps({"model": model, "generated_frames": generated_frames, "sent": 0})
        self._make_room(len(data) + len(meta))
        job_id = secrets.token_hex(16)
        partial = self.directory / f"{_PARTIAL}{job_id}"
        partial.mkdir()
        (partial / _REQUEST).write_bytes(data)
        (partial / _META).write_text(meta)
        partial.rename(self.directory / job_id)
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
            temporary.write_text(json.dumps(meta))
            temporary.replace(folder / _META)
        except FileNotFoundError:
            return

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.directory / job_id, ignore_errors=True)

    def disk_bytes(self) -> int:
        return sum(size for _, _, size in self._jobs())

    def _make_room(self, size: int) -> None:
        """Removes expired jobs, then the least recently active, until size more bytes fit."""
        now = time.time()
        jobs = sorted(self._jobs())  # oldest first
        kept = []
        for modified, folder, job_size in jobs:
            if now - modified > self.ttl_seconds:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                kept.append((folder, job_size))
        total = sum(job_size for _, job_size in kept)
        for folder, job_size in kept:
            if total + size <= self.max_bytes:
                break
            shutil.rmtree(folder, ignore_errors=True)
            total -= job_size

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
