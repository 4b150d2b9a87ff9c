#!/usr/bin/env python3
# Flips every bit of one byte of a file in place: flip-byte.py FILE POSITION
# (a negative POSITION counts from the end). The integrity tests use it to
# damage an artifact the way a bad disk or an interrupted copy would.
import os
import sys

path, position = sys.argv[1], int(sys.argv[2])
size = os.path.getsize(path)
if position < 0:
    position += size
with open(path, "r+b") as f:
    f.seek(position)
    byte = f.read(1)
    f.seek(position)
    f.write(bytes([byte[0] ^ 0xFF]))
