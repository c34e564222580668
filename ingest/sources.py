"""Raw messages from files: single .eml files, mbox files and Maildir folders, streamed.

Each source yields `(source_label, raw_bytes)` one message at a time, so importing a large
mbox or Maildir uses constant memory.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path

RawMessage = tuple[str, bytes]


class UnknownSourceError(ValueError):
    """A path that is not an .eml file, an mbox file or a Maildir."""


def is_maildir(path: Path) -> bool:
    """A Maildir is a folder holding `cur/` and `new/`."""
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


def is_mbox(path: Path) -> bool:
    """An mbox file starts with a `From ` envelope line."""
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def iter_maildir(path: Path) -> Iterator[RawMessage]:
    """Messages of a Maildir in file-name order (delivery order for standard names).

    Dot-files (such as a `.keep` that holds an empty folder in git) are not messages.
    """
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in sorted(k for k in box.iterkeys() if not k.startswith(".")):
        with box.get_file(key) as handle:
            yield f"maildir:{path.name}/{key}", handle.read()


def iter_mbox(path: Path) -> Iterator[RawMessage]:
    """Messages of an mbox file, streamed by splitting on `From ` envelope lines."""
    chunk: list[bytes] = []
    index = 0
    with path.open("rb") as handle:
        for line in handle:
            if line.startswith(b"From ") and (not chunk or chunk[-1] in (b"\n", b"\r\n")):
                if chunk:
                    yield f"mbox:{path.name}#{index}", _unescape_mbox(chunk)
                    index += 1
                chunk = []
                continue
            chunk.append(line)
    if chunk:
        yield f"mbox:{path.name}#{index}", _unescape_mbox(chunk)


def _unescape_mbox(lines: list[bytes]) -> bytes:
    """Undo mboxrd `>From ` quoting and drop the blank separator line."""
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(line[1:] if line.startswith(b">From ") else line for line in lines)


def iter_path(path: Path) -> Iterator[RawMessage]:
    """Messages from one path, whatever it holds; folders of .eml files are read recursively."""
    if is_maildir(path):
        yield from iter_maildir(path)
    elif path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and not child.name.startswith("."):
                yield from iter_path(child)
    elif path.is_file():
        if is_mbox(path):
            yield from iter_mbox(path)
        else:
            yield f"file:{path.name}", path.read_bytes()
    else:
        raise UnknownSourceError(f"{path}: no such file or folder")


def iter_paths(paths: list[Path]) -> Iterator[RawMessage]:
    """Messages from several paths, in the order given."""
    for path in paths:
        yield from iter_path(path)
