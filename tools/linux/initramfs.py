#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write a gzip'd newc cpio archive for Linux's initramfs, reproducibly.

  tools/linux/initramfs.py OUT.cpio.gz DEST=SRC [DEST=SRC ...] [--dir DEST ...]
                           [--link DEST=TARGET ...]

Each DEST=SRC puts the file SRC at DEST (mode: SRC's permission bits);
--dir DEST makes a directory, --link DEST=TARGET a symbolic link. Parent
directories are made as needed. Every entry has owner root, mtime 0 and
an inode number by order, and the gzip header has no name or time: the
same inputs give the same bytes (no cpio program needed).
"""

import gzip
import io
import os
import stat
import sys

TRAILER = "TRAILER!!!"


def header(ino, mode, nlink, size, name):
	"""A newc header and name, padded to 4 bytes."""
	fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name) + 1, 0]
	head = b"070701" + b"".join(b"%08X" % f for f in fields)
	data = head + name.encode() + b"\0"
	return data + b"\0" * (-len(data) % 4)


def pad(data):
	return data + b"\0" * (-len(data) % 4)


class Archive:
	def __init__(self):
		self.entries = {}  # path -> (mode, bytes)

	def _parents(self, path):
		parts = path.split("/")[:-1]
		for i in range(1, len(parts) + 1):
			d = "/".join(parts[:i])
			self.entries.setdefault(d, (stat.S_IFDIR | 0o755, b""))

	def add(self, path, mode, data=b""):
		path = path.strip("/")
		if not path:
			raise ValueError("an empty destination")
		if path in self.entries and not stat.S_ISDIR(mode):
			raise ValueError(f"{path} given twice")
		self._parents(path)
		self.entries[path] = (mode, data)

	def bytes(self):
		out = io.BytesIO()
		for ino, path in enumerate(sorted(self.entries), start=1):
			mode, data = self.entries[path]
			nlink = 2 if stat.S_ISDIR(mode) else 1
			out.write(header(ino, mode, nlink, len(data), path))
			out.write(pad(data))
		out.write(header(0, 0, 1, 0, TRAILER))
		raw = out.getvalue()
		raw += b"\0" * (-len(raw) % 512)
		buf = io.BytesIO()
		with gzip.GzipFile(fileobj=buf, mode="wb", filename="", mtime=0) as gz:
			gz.write(raw)
		return buf.getvalue()


def build(spec):
	"""An Archive from the command line's words (raises ValueError, OSError)."""
	a = Archive()
	args = iter(spec)
	for word in args:
		if word in ("--dir", "--link"):
			what = next(args, None)
			if what is None:
				raise ValueError(f"{word} needs a value")
			if word == "--dir":
				a.add(what, stat.S_IFDIR | 0o755)
				continue
			dest, sep, target = what.partition("=")
			if not sep or not target:
				raise ValueError(f"--link wants DEST=TARGET, not {what!r}")
			a.add(dest, stat.S_IFLNK | 0o777, target.encode())
			continue
		dest, sep, src = word.partition("=")
		if not sep or not src:
			raise ValueError(f"want DEST=SRC, not {word!r}")
		st = os.stat(src)
		if not stat.S_ISREG(st.st_mode):
			raise ValueError(f"{src} is not a regular file")
		with open(src, "rb") as f:
			a.add(dest, stat.S_IFREG | (st.st_mode & 0o7777), f.read())
	return a


def main(argv):
	if len(argv) < 2 or argv[0].startswith("-"):
		print(__doc__.strip(), file=sys.stderr)
		return 2
	try:
		data = build(argv[1:]).bytes()
	except (ValueError, OSError) as e:
		print(f"initramfs: {e}", file=sys.stderr)
		return 2
	tmp = argv[0] + ".tmp"
	with open(tmp, "wb") as f:
		f.write(data)
	os.replace(tmp, argv[0])
	return 0


if __name__ == "__main__":
	sys.exit(main(sys.argv[1:]))
