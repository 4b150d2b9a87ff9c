#!/usr/bin/env python3
#===- check-error-catalogue.py - Every user-facing error has a test --------===#
#
# usage: scripts/check-error-catalogue.py [--list] [--summary] [ROOT]
#
# Finds every place in the sources that produces a user-facing error message
# (ERROR_SITE_PATTERNS below, in the files of SOURCES) and matches each one
# to an entry of tests/errors/catalogue.json by a fragment of its message
# text. Fails when
#   - a site matches no entry (a new error without a catalogue entry), or
#     two entries equally well (the entry whose fragment occurs in the
#     fewest sites wins, then the longer fragment);
#   - an entry matches no site (a stale entry), or a different number of
#     sites than its "sites" says (1 when absent);
#   - an entry's test does not exist, or its file does not contain the text
#     the entry says the test checks ("expect", default: the fragment);
#   - an entry has neither a test nor a reason why none is needed
#     ("internal" or "ignore").
# docs/reliability.md ("Error catalogue") describes the scheme. --list prints
# every site with the entry it matched; --summary prints the counts only.
#
#===------------------------------------------------------------------------===#
import json
import re
import sys
from pathlib import Path

# Files that produce user-facing errors: readers, compiler, CLI, runtime,
# dialect verifiers and the passes xfc-opt runs.
SOURCES = [
    "frontends/lib/*.cpp",
    "compiler/lib/*.cpp",
    "compiler/tools/xfc/*.cpp",
    "runtime/src/*.cpp",
    "runtime/src/*.h",
    "runtime/src/support/*.cpp",
    "dialect/lib/XF/*.cpp",
    "passes/lib/**/*.cpp",
]

# The beginnings of an expression that makes an error message. The site is
# the text from the match to the end of its statement.
ERROR_SITE_PATTERNS = [
    r"\b(?:\w+(?:\.|->))?fail(?:At)?\s*\(",  # fail(...) helpers
    r"\b(?:error|err|problem)\s*\+?=(?!=)",  # error = "..." + ...
    r"\b(?:std::string|const char \*)\s*(?:expected|seqExpected|"
    r"versionExpected)\s*=",                  # an expectation built apart
    r"\bmakeStatus\s*\(",                     # runtime C API statuses
    r"\busageError\s*\(",                     # xfc command-line errors
    r"\bfprintf\s*\(\s*stderr",               # xfc messages
    r"\bemit(?:Op)?Error\s*\(",               # MLIR diagnostics
    r"\bthrow\s+\w+Error\s*\{",               # Manifest.cpp
]
# Per-file extra patterns: functions that return a problem as a string.
EXTRA_PATTERNS = {
    "passes/lib/Analysis/AttentionPattern.cpp": [r"\breturn\s+\""],
}
# Definitions of the helpers, not sites.
DEFINITION = re.compile(
    r"(?:\b(?:bool|void|auto|int|xfc_status)\s+|\]\]\s*void\s+)"
    r"(?:fail(?:At)?|makeStatus|usageError)\s*\($")

# Words that alone do not make a message (a site whose literals hold no
# other word of three letters or more only passes a message on).
FILLER = {"xfc", "error", "expected", "found"}


def strip_comments(text):
    """Blanks out comments, keeping offsets and string literals."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"' or c == "'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                out[k] = " "
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
        else:
            i += 1
    return "".join(out)


def statement_end(text, start):
    """Offset of the ';' ending the statement that starts at `start`."""
    depth, i, n = 0, start, len(text)
    while i < n:
        c = text[i]
        if c == '"' or c == "'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return i
        elif c == ";" and depth == 0:
            return i
        i += 1
    return n


def unescape(body):
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(
        m.group(1), m.group(1)), body)


def literals(code):
    """The string literals of `code`, adjacent ones joined, unescaped."""
    found, last_end = [], -2
    for m in re.finditer(r'"((?:[^"\\\n]|\\.)*)"', code):
        # Skip character literals such as '"' caught by the expression.
        if m.start() > 0 and code[m.start() - 1] == "'":
            continue
        text = unescape(m.group(1))
        if found and code[last_end:m.start()].strip() == "":
            found[-1] += text
        else:
            found.append(text)
        last_end = m.end()
    return found


def is_message(pieces):
    words = set(re.findall(r"[A-Za-z]{3,}", " ".join(pieces)))
    return bool(words - FILLER)


def find_sites(root):
    sites = []
    for pattern in SOURCES:
        for path in sorted(root.glob(pattern)):
            rel = path.relative_to(root).as_posix()
            text = strip_comments(path.read_text())
            regexes = ERROR_SITE_PATTERNS + EXTRA_PATTERNS.get(rel, [])
            starts = set()
            for regex in regexes:
                for m in re.finditer(regex, text):
                    starts.add(m.start())
            covered = -1
            for start in sorted(starts):
                if start < covered:
                    continue  # Inside the statement of an earlier site.
                line_start = text.rfind("\n", 0, start) + 1
                head = text[line_start:text.find("(", start) + 1]
                if DEFINITION.search(head.strip()):
                    continue
                end = statement_end(text, start)
                covered = end
                pieces = literals(text[start:end])
                if not is_message(pieces):
                    continue
                line = text.count("\n", 0, start) + 1
                sites.append({"file": rel, "line": line, "literals": pieces})
    return sites


def gtest_body(text, name):
    """The source of gtest `Suite.Name` up to the next test, or None."""
    suite, _, test = name.partition(".")
    m = re.search(r"\b(?:TEST|TEST_F|TEST_P)\s*\(\s*%s\s*,\s*%s\s*\)"
                  % (re.escape(suite), re.escape(test)), text)
    if not m:
        return None
    nxt = re.search(r"\n(?:TEST|TEST_F|TEST_P)\s*\(", text[m.end():])
    return text[m.start():m.end() + nxt.start() if nxt else len(text)]


def test_checks(root, entry):
    """'' when the entry's test exists and checks its text, else why not."""
    test = entry["test"]
    file, _, name = test.partition(":")
    path = root / file
    if not path.is_file():
        return "test file %s does not exist" % file
    text = path.read_text()
    if name:
        body = gtest_body(text, name)
        if body is None:
            return "no test %s in %s" % (name, file)
    else:
        body = text
    if file.endswith((".cpp", ".h")):
        # Join adjacent string literals ("... " "..."), as the compiler
        # does: clang-format splits long expected messages across lines.
        body = re.sub(r'"\s+"', "", body)
    expect = entry.get("expect", entry["match"])
    expects = expect if isinstance(expect, list) else [expect]
    for want in expects:
        # C++ sources quote the text with escapes; lit files plainly.
        escaped = want.replace("\\", "\\\\").replace('"', '\\"')
        if want not in body and escaped not in body:
            return "%s does not contain %r" % (test, want)
    return ""


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    root = Path(args[0] if args else Path(__file__).resolve().parent.parent)
    catalogue = json.loads((root / "tests/errors/catalogue.json").read_text())
    entries = catalogue["errors"]
    sites = find_sites(root)
    problems = []
    matched = {i: [] for i in range(len(entries))}

    def candidates(site):
        return [i for i, e in enumerate(entries)
                if e["file"] == site["file"] and
                any(e["match"] in piece for piece in site["literals"])]

    # How many sites each entry's fragment occurs in.
    reach = {i: 0 for i in range(len(entries))}
    for site in sites:
        for i in candidates(site):
            reach[i] += 1
    for site in sites:
        # The most specific entry wins: the one whose fragment occurs in the
        # fewest sites, then the longer fragment. A phrase many messages
        # share ("an integer in") thus never takes a site that an entry of
        # its own names ("--batch").
        scored = [((reach[i], -len(entries[i]["match"])), i)
                  for i in candidates(site)]
        hits = []
        if scored:
            best = min(score for score, _ in scored)
            hits = [i for score, i in scored if score == best]
        where = "%s:%d" % (site["file"], site["line"])
        if not hits:
            problems.append("%s: an error without a catalogue entry: %s" %
                            (where, " ... ".join(site["literals"])))
        elif len(hits) > 1:
            problems.append("%s: matches %d entries: %s" % (
                where, len(hits), ", ".join(entries[i]["id"] for i in hits)))
        else:
            matched[hits[0]].append(site)
            site["entry"] = entries[hits[0]]["id"]
    ids = set()
    tested = internal = ignored = 0
    untested = []
    for i, entry in enumerate(entries):
        eid = entry["id"]
        if eid in ids:
            problems.append("%s: id used twice" % eid)
        ids.add(eid)
        want = entry.get("sites", 1)
        if len(matched[i]) != want:
            problems.append("%s: matches %d sites in %s, expected %d" %
                            (eid, len(matched[i]), entry["file"], want))
        if "ignore" in entry:
            ignored += 1
        elif "internal" in entry:
            internal += 1
        elif "untested" in entry:
            # A known gap, listed in every run until a test replaces it.
            untested.append(eid)
        elif "test" in entry:
            why = test_checks(root, entry)
            if why:
                problems.append("%s: %s" % (eid, why))
            else:
                tested += 1
        else:
            problems.append("%s: no test (and no \"internal\" reason)" % eid)
    if "--list" in argv:
        for site in sites:
            print("%s:%d\t%s\t%s" % (site["file"], site["line"],
                                     site.get("entry", "-"),
                                     " ... ".join(site["literals"])))
    errors = len(entries) - ignored
    print("error catalogue: %d sites, %d errors catalogued: %d tested, "
          "%d internal (not reachable from input), %d untested, %d non-error "
          "sites ignored" % (len(sites), errors, tested, internal,
                             len(untested), ignored))
    if untested:
        print("untested (known gaps): " + ", ".join(untested))
    for p in problems:
        print("error: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
