#!/usr/bin/env python3
# Edits an artifact's manifest.json in place for the refusal tests:
#   edit-manifest.py ARTIFACT copy-tokenizer FROM  copy FROM's "tokenizer"
#                                                  and vocabulary file
#   edit-manifest.py ARTIFACT set-tokenizer KEY JSON  set one field of it
#   edit-manifest.py ARTIFACT rehash-vocab         record the vocabulary
#                                                  file's size and FNV-1a
#   edit-manifest.py ARTIFACT set KEY JSON         set a top-level field
#   edit-manifest.py ARTIFACT delete KEY           drop a top-level field
#   edit-manifest.py ARTIFACT set-gpu KEY JSON     set a field of "gpu"
#   edit-manifest.py ARTIFACT copy-library FROM    take FROM's library and
#                                                  record its size and FNV-1a
import json
import shutil
import sys


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


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
    manifest["tokenizer"]["vocab_size_bytes"] = len(data)
    manifest["tokenizer"]["vocab_fnv1a64"] = fnv1a64(data)
elif action == "set":
    manifest[sys.argv[3]] = json.loads(sys.argv[4])
elif action == "delete":
    del manifest[sys.argv[3]]
elif action == "set-gpu":
    manifest["gpu"][sys.argv[3]] = json.loads(sys.argv[4])
elif action == "copy-library":
    with open(sys.argv[3] + "/" + manifest["library"], "rb") as f:
        data = f.read()
    with open(artifact + "/" + manifest["library"], "wb") as f:
        f.write(data)
    manifest["library_size_bytes"] = len(data)
    manifest["library_fnv1a64"] = fnv1a64(data)
else:
    sys.exit("unknown action " + action)
with open(path, "w") as f:
    json.dump(manifest, f, indent=2)
