# SPDX-License-Identifier: MIT
"""tools/linux/initramfs.py: the archive Linux unpacks, read back.

  /usr/bin/python3 -m unittest discover -s tools/linux -p 'test_*.py'
"""

import gzip
import os
import stat
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import initramfs  # noqa: E402


def entries(data):
	"""[(name, mode, nlink, body)] of a gzip'd newc archive, up to the trailer."""
	raw = gzip.decompress(data)
	out, pos = [], 0
	while True:
		head = raw[pos:pos + 110]
		if head[:6] != b"070701":
			raise AssertionError(f"no newc magic at {pos}")
		f = [int(head[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
		mode, nlink, size, namesize = f[1], f[4], f[6], f[11]
		name = raw[pos + 110:pos + 110 + namesize - 1].decode()
		if raw[pos + 110 + namesize - 1] != 0:
			raise AssertionError(f"{name}: name not NUL-terminated")
		pos += 110 + namesize
		pos += -pos % 4
		body = raw[pos:pos + size]
		pos += size
		pos += -pos % 4
		if name == initramfs.TRAILER:
			if len(raw) % 512:
				raise AssertionError("not padded to 512 bytes")
			return out
		out.append((name, mode, nlink, body))


class Archive(unittest.TestCase):
	def setUp(self):
		self.tmp = tempfile.TemporaryDirectory()
		self.init = os.path.join(self.tmp.name, "init")
		with open(self.init, "w") as f:
			f.write("#!/bin/sh\necho hi\n")
		os.chmod(self.init, 0o755)
		self.ko = os.path.join(self.tmp.name, "m.ko")
		with open(self.ko, "wb") as f:
			f.write(b"\x7fELF" + bytes(range(256)) * 3)
		os.chmod(self.ko, 0o644)

	def tearDown(self):
		self.tmp.cleanup()

	def build(self, *words):
		return initramfs.build(list(words)).bytes()

	def test_files_dirs_and_links_come_back(self):
		data = self.build("init=" + self.init, "lib/m.ko=" + self.ko, "--dir", "proc",
				  "--link", "bin/sh=busybox")
		got = {name: (mode, nlink, body) for name, mode, nlink, body in entries(data)}
		self.assertEqual(sorted(got), ["bin", "bin/sh", "init", "lib", "lib/m.ko", "proc"])
		self.assertEqual(got["init"], (stat.S_IFREG | 0o755, 1, b"#!/bin/sh\necho hi\n"))
		with open(self.ko, "rb") as f:
			self.assertEqual(got["lib/m.ko"], (stat.S_IFREG | 0o644, 1, f.read()))
		self.assertEqual(got["bin/sh"], (stat.S_IFLNK | 0o777, 1, b"busybox"))
		for d in ("bin", "lib", "proc"):
			self.assertEqual(got[d][:2], (stat.S_IFDIR | 0o755, 2))

	def test_reproducible(self):
		a = self.build("init=" + self.init, "m.ko=" + self.ko)
		os.utime(self.init, (1, 1))
		self.assertEqual(a, self.build("m.ko=" + self.ko, "init=" + self.init))

	def test_bad_words_refused(self):
		for words, text in (((self.init,), "want DEST=SRC"),
				    (("x=" + self.tmp.name,), "not a regular file"),
				    (("--link", "a"), "--link wants DEST=TARGET"),
				    (("--dir",), "--dir needs a value"),
				    (("a=" + self.init, "a=" + self.init), "given twice")):
			with self.assertRaises(ValueError) as cm:
				initramfs.build(list(words))
			self.assertIn(text, str(cm.exception))
		with self.assertRaises(OSError):
			initramfs.build(["a=/nonexistent/file"])

	def test_command_line(self):
		out = os.path.join(self.tmp.name, "out.cpio.gz")
		run = [sys.executable, os.path.join(HERE, "initramfs.py")]
		r = subprocess.run(run + [out, "init=" + self.init], capture_output=True, text=True)
		self.assertEqual(r.returncode, 0, r.stderr)
		with open(out, "rb") as f:
			self.assertEqual([e[0] for e in entries(f.read())], ["init"])
		r = subprocess.run(run + [out, "nonsense"], capture_output=True, text=True)
		self.assertEqual(r.returncode, 2)
		self.assertIn("want DEST=SRC", r.stderr)
		self.assertFalse(os.path.exists(out + ".tmp"))


if __name__ == "__main__":
	unittest.main()
