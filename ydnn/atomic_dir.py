"""Directories written whole or not at all: a model directory, an export.

`write_directory` fills a hidden temporary directory beside the target,
syncs it, and renames it into place (swapping out an old one in one step
on Linux), so a kill at any moment leaves the old directory whole or the
new one complete, never a mix; `check_output_directory` refuses, before
any work is done, a target that cannot or must not be replaced.
"""

import ctypes
import errno
import os
import secrets
import shutil
import sys

# Tests set this to a callable of the save's progress points ("wrote
# model.keras", ..., "written", "before-rename", "after-rename") to kill the
# process there.
fault_hook = None


def checkpoint(point):
    """Calls `fault_hook` (tests) at a named point of a save."""
    if fault_hook is not None:
        fault_hook(point)


def check_output_directory(directory, overwrite, owned, what):
    """Raises ValueError unless `directory` can take a new `what`, saying what to do.

    It must not be a file; a non-empty one needs `overwrite` and may hold
    only `owned` names, so an overwrite never deletes files ydnn did not
    write. The nearest existing ancestor must take a new entry: probed, as
    permission bits do not bind root and a read-only file system does.
    """
    path = os.path.realpath(directory)  # a symlink's target is what gets replaced
    cwd = os.getcwd()
    if cwd == path or cwd.startswith(path.rstrip(os.sep) + os.sep):
        raise ValueError(
            f"output directory {directory!r} is (or holds) the current directory: "
            f"choose another --out"
        )
    if os.path.isdir(path):
        present = sorted(os.listdir(path))
        foreign = [n for n in present if n not in owned]
        if present and not overwrite:
            raise ValueError(
                f"output directory {directory!r} is not empty (it holds "
                f"{'files' if foreign else what}): pass --overwrite to replace it, "
                f"or choose another --out"
            )
        if foreign:
            raise ValueError(
                f"output directory {directory!r} holds files that are not part of "
                f"{what} ({', '.join(foreign[:3])}); --overwrite only replaces "
                f"{what}: choose another --out"
            )
    elif os.path.lexists(path):
        raise ValueError(
            f"output directory {directory!r} is a file, not a directory: choose another --out"
        )
    parent = os.path.dirname(path)
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(
            f"cannot create output directory {directory!r}: {parent!r} is a "
            f"file; choose another --out"
        )
    probe = os.path.join(parent, f".ydnn-probe-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError as e:
        raise ValueError(
            f"cannot write output directory {directory!r}: {parent!r} is not "
            f"writable ({e.strerror}); choose another --out"
        ) from None


def write_directory(directory, write, overwrite, owned, what):
    """Runs `write(tmp)` on a temporary directory, then renames it to `directory`.

    `tmp` is a hidden `.NAME.tmp-*` beside `directory` (same file system:
    the rename is atomic), synced before the rename. An existing directory
    is swapped out in one step (Linux renameat2 RENAME_EXCHANGE) and then
    deleted. An exception or interrupt removes `tmp`; a SIGKILL may leave it.

    Raises:
        ValueError: see `check_output_directory` (checked before and after
            `write`: another process may have written meanwhile).
    """
    check_output_directory(directory, overwrite, owned, what)
    path = os.path.realpath(directory)
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{name}.tmp-{os.getpid()}-{secrets.token_hex(6)}")
    os.mkdir(tmp)  # mode 0o777 less the umask, as the directory itself would get
    leftover = tmp
    try:
        write(tmp)
        _fsync_tree(tmp)
        if os.path.isdir(path):
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        checkpoint("written")
        check_output_directory(directory, overwrite, owned, what)
        checkpoint("before-rename")
        leftover = _move_into_place(tmp, path, directory)
        _fsync_dir(parent)
        checkpoint("after-rename")
    finally:
        if leftover is not None:
            shutil.rmtree(leftover, ignore_errors=True)


def _move_into_place(tmp, path, shown):
    """Renames `tmp` to `path`; returns what is left to delete (None or the old contents)."""
    if not os.path.isdir(path) or not os.listdir(path):
        try:
            os.rename(tmp, path)  # replaces an empty directory atomically
            return None
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            raise ValueError(
                f"output directory {shown!r} was filled by another process during "
                f"the save: pass --overwrite, or choose another --out"
            ) from None
    if _exchange(tmp, path):
        return tmp  # now holds the old contents
    # No atomic exchange: the old directory moves aside first, so a kill
    # between the renames leaves it whole as `.NAME.old-*` (load names it).
    old = os.path.join(
        os.path.dirname(path), f".{os.path.basename(path)}.old-{secrets.token_hex(6)}"
    )
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)
        raise
    return old


def _exchange(a, b):
    """Swaps two paths atomically (Linux >= 3.15); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28, musl
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), b)


def _fsync_tree(root):
    for folder, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(folder)


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # platforms that cannot open a directory
    try:
        os.fsync(fd)
    except OSError:
        pass  # file systems that refuse fsync on a directory
    finally:
        os.close(fd)
