"""Child processes that die with their parent, and a private scratch folder that a killed process cannot leak.

Standard library only: ``holistic_legacy.py`` loads this file by path when it runs as a script in the legacy
MediaPipe environment, where ``signllm`` is not installed.

Why (issue 16.10): ``kill -9`` of ``signllm extract --workers N`` used to leave the pool workers, their MediaPipe
helpers, the fork server and the resource tracker running (≈1 GB), still writing outputs. The fork server only
exits when every holder of its "alive" pipe is gone, and pool workers hold it while they wait for jobs that will
never come, so nothing ended. Now:

- a pool worker waits in a daemon thread on ``multiprocessing.parent_process().sentinel`` (readable once the
  process that started it is gone) and exits at once, killing its helper first (`exit_with_parent`); on Linux it
  also asks the kernel for SIGKILL when the fork server that forked it dies (`set_parent_death_signal`);
- a legacy helper gets SIGKILL from the kernel when its worker dies (Linux, when started from the worker's main
  thread) and otherwise notices its parent pid change within ``interval`` seconds (every POSIX system);
- once the workers are gone the fork server and the resource tracker see end-of-file and exit on their own.

Scratch files (issue 16.17): `private_scratch_dir` makes one ``signllm-<purpose>-*`` folder per process in the
system temp folder, holds an exclusive ``flock`` on a file inside it while the process lives and removes it at exit;
a process killed with ``kill -9`` cannot remove it, so every new call first removes such folders whose lock is free
(their owner is dead). Nothing of a killed run stays behind after the next run starts. (Python's own
``pymp-*`` folder of a killed parent, holding the fork server's socket, is multiprocessing's and stays.)
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

#: exit status of a process that ended because its parent died
EXIT_PARENT_DIED = 75
_PR_SET_PDEATHSIG = 1
_LOCK_NAME = ".owner.lock"
_YOUNG_SECONDS = 60.0  # a lock-less folder this young may be one another process is creating right now


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Linux: the kernel sends ``sig`` to this process when the *thread* that created it exits. False elsewhere.

    Call it only in a process started from its parent's main thread (or the fork server), otherwise the signal
    comes when that other thread ends.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def exit_with_parent(
    sentinel: int | None = None,
    parent_pid: int | None = None,
    on_exit: Callable[[], None] | None = None,
    interval: float = 0.25,
) -> threading.Thread:
    """Start a daemon thread that ends this process (``os._exit(EXIT_PARENT_DIED)``) as soon as its parent is gone.

    Args:
        sentinel: a file descriptor that becomes readable when the parent dies (``multiprocessing.parent_process()
            .sentinel``); waited on without polling.
        parent_pid: else, the parent's pid (default: the current ``os.getppid()``); polled every ``interval`` s,
            since a dead parent's children are re-parented.
        on_exit: called first (e.g. kill this process's own children); its errors are ignored.
    """
    expected = os.getppid() if parent_pid is None else parent_pid

    def parent_alive() -> bool:
        return os.getppid() == expected

    def watch() -> None:
        if sentinel is not None:
            from multiprocessing.connection import wait

            wait([sentinel])
        else:
            while parent_alive():
                time.sleep(interval)
        if on_exit is not None:
            with contextlib.suppress(Exception):
                on_exit()
        os._exit(EXIT_PARENT_DIED)

    if sentinel is None and not parent_alive():  # the parent died before we got here
        watch()
    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread


# ------------------------------------------------------------------------------------------------ scratch folder
_SCRATCH: dict[str, tuple[Path, int, int]] = {}  # purpose -> (folder, lock descriptor, owner pid)


def private_scratch_dir(purpose: str) -> Path:
    """This process's scratch folder ``<tmp>/signllm-<purpose>-XXXX`` (created once, removed at exit).

    Folders of the same purpose left by dead processes (their lock is free) are removed first.
    """
    held = _SCRATCH.get(purpose)
    if held is not None and held[2] == os.getpid() and held[0].is_dir():
        return held[0]
    remove_stale_scratch_dirs(purpose)
    folder = Path(tempfile.mkdtemp(prefix=f"signllm-{purpose}-"))
    handle = os.open(folder / _LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o600)
    _lock(handle, blocking=True)
    _SCRATCH[purpose] = (folder, handle, os.getpid())
    # multiprocessing workers end with os._exit, skipping atexit; they run multiprocessing's own exit finalizers
    from multiprocessing.util import Finalize

    Finalize(None, _remove_own_scratch_dirs, exitpriority=10)
    return folder


def remove_stale_scratch_dirs(purpose: str, root: str | os.PathLike | None = None) -> int:
    """Remove ``signllm-<purpose>-*`` folders of this user whose owner process is dead; returns how many."""
    removed = 0
    for folder in Path(root or tempfile.gettempdir()).glob(f"signllm-{purpose}-*"):
        try:
            if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
                continue
            lock = folder / _LOCK_NAME
            if not lock.exists():
                if time.time() - folder.stat().st_mtime > _YOUNG_SECONDS:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
                continue
            handle = os.open(lock, os.O_RDWR)
        except OSError:
            continue
        try:
            if _lock(handle, blocking=False):
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        finally:
            os.close(handle)
    return removed


def _lock(handle: int, blocking: bool) -> bool:
    """Exclusive ``flock``; True when held (always True where ``fcntl`` does not exist: no stale-folder sweep)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return blocking
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


@atexit.register
def _remove_own_scratch_dirs() -> None:
    for folder, handle, owner in _SCRATCH.values():
        if owner == os.getpid():  # a forked child that inherited the table leaves its parent's folder alone
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.close(handle)
    _SCRATCH.clear()
