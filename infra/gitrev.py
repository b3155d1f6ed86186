"""Git revisions as directories: a temporary detached worktree that is always removed afterwards."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


class GitError(Exception):
    """Not a git repository, an unknown revision, or git itself failed."""


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if done.returncode != 0:
        raise GitError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"git {args[0]} failed")
    return done.stdout.strip()


def repo_root(path: Path) -> Path:
    """The top of the working tree that contains ``path``."""
    if not path.is_dir():
        raise GitError(f"{path} is not a directory")
    try:
        return Path(_git(path, "rev-parse", "--show-toplevel")).resolve()
    except GitError:
        raise GitError(f"{path} is not inside a git repository") from None


def resolve(root: Path, rev: str) -> str:
    """The commit a revision names (``origin/main``, a tag, a sha), or GitError."""
    if rev.startswith("-"):
        raise GitError(f"unknown revision {rev!r}")
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    except GitError:
        raise GitError(f"unknown revision {rev!r}") from None


@contextmanager
def worktree(root: Path, commit: str) -> Iterator[Path]:
    """Check ``commit`` out, detached, in a temporary worktree; remove it (and its metadata) afterwards.

    The user's checkout, index and branches are left alone: ``git worktree add --detach`` only adds
    an entry under ``.git/worktrees``, which ``git worktree remove`` deletes again.
    """
    parent = Path(tempfile.mkdtemp(prefix="infra-diff-"))
    path = parent / commit[:12]
    try:
        _git(root, "worktree", "add", "--detach", "--quiet", str(path), commit)
        yield path
    finally:
        removed = False
        try:
            if path.exists():
                _git(root, "worktree", "remove", "--force", str(path))
            removed = True
        except GitError:
            pass
        shutil.rmtree(parent, ignore_errors=True)
        if not removed:
            # The directory is gone now; prune drops its entry under .git/worktrees.
            with suppress(GitError):
                _git(root, "worktree", "prune")
