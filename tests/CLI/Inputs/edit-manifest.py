#!/usr/bin/env python3
# Edits an artifact's manifest.json in place for the refusal tests:
#   edit-manifest.py ARTIFACT copy-tokenizer FROM  copy FROM's "tokenizer"
#                                                  and vocabulary file
#   edit-manifest.py ARTIFACT set-tokenizer KEY JSON  set one field of it
#   edit-manifest.py ARTIFACT rehash-vocab         record the vocabulary
#                                                  file's size and FNV-1a
import json
import shutil
import sys

artifact, action = sys.argv[1], sys.argv[2]
path = artifact + "/manifest.json"
with open(path) as f:
    manifest = json.load(f)
if action == "copy-tokenizer":
    source = sys.argv[3]
    with open(source + "/manifest.json") as f:
        manifest["tokenizer"] = json.load(f)["tokenizer"]
    shutil.copy(source + "/" + manifest["tokenizer"]["vocab_file"], artifact)
elif action == "set-tokenizer":
    manifest["tokenizer"][sys.argv[3]] = json.loads(sys.argv[4])
elif action == "rehash-vocab":
    with open(artifact + "/" + manifest["tokenizer"]["vocab_file"], "rb") as f:
        data = f.read()
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    manifest["tokenizer"]["vocab_size_bytes"] = len(data)
    manifest["tokenizer"]["vocab_fnv1a64"] = "%016x" % h
else:
    sys.exit("unknown action " + action)
with open(path, "w") as f:
    json.dump(manifest, f, indent=2)
