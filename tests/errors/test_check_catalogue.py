#!/usr/bin/env python3
#===- test_check_catalogue.py - Tests of check-error-catalogue.py ---------===#
#
# Runs the catalogue checker on small made-up source trees: a catalogued and
# tested error passes; a new error site, a stale entry, a test that does not
# check the message, an entry without test or reason, and a second site of a
# catalogued message all fail, each with a message naming it. Standard-library
# Python only.
#
#===------------------------------------------------------------------------===#
import contextlib
import importlib.util
import io
import json
import tempfile
import unittest
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts/check-error-catalogue.py"
spec = importlib.util.spec_from_file_location("check", SCRIPT)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

SOURCE = '''
bool readThing(const Json &v, std::string &error) {
  if (!v.is_object())
    return fail("$", "an object", describe(v));
  if (v.size() > 4) {
    error = "thing: expected at most 4 members, found " +
            std::to_string(v.size());
    return false;
  }
  // A pass-through carries no message of its own: not a site.
  error = prefix + ": " + inner;
  return true;
}
'''

TEST = '''
TEST(Thing, Errors) {
  EXPECT_EQ(message, "at $: expected an object, found 3");
  EXPECT_EQ(message, "thing: expected at most 4 members, found 5");
}
'''


class CatalogueChecker(unittest.TestCase):
    def run_checker(self, source, entries, test=TEST):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "frontends/lib").mkdir(parents=True)
            (root / "frontends/lib/Thing.cpp").write_text(source)
            (root / "tests/errors").mkdir(parents=True)
            (root / "tests/unit").mkdir(parents=True)
            (root / "tests/unit/ThingTest.cpp").write_text(test)
            (root / "tests/errors/catalogue.json").write_text(
                json.dumps({"errors": entries}))
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(err):
                rc = check.main(["check", str(root)])
            return rc, err.getvalue()

    def entries(self):
        test = "tests/unit/ThingTest.cpp:Thing.Errors"
        return [
            {"id": "thing.01", "file": "frontends/lib/Thing.cpp",
             "match": "an object", "test": test},
            {"id": "thing.02", "file": "frontends/lib/Thing.cpp",
             "match": "expected at most 4 members", "test": test},
        ]

    def test_complete_catalogue_passes(self):
        rc, err = self.run_checker(SOURCE, self.entries())
        self.assertEqual((rc, err), (0, ""))

    def test_new_site_of_a_known_message_is_counted(self):
        source = SOURCE.replace(
            "  return true;",
            '  if (v.is_null())\n    return fail("$", "an object", "null");\n'
            "  return true;")
        rc, err = self.run_checker(source, self.entries())
        self.assertEqual(rc, 1)
        self.assertIn("thing.01: matches 2 sites in frontends/lib/Thing.cpp, "
                      "expected 1", err)

    def test_uncatalogued_site_fails(self):
        source = SOURCE.replace(
            "  return true;",
            '  if (v.empty())\n    return fail("$", "members", "none");\n'
            "  return true;")
        rc, err = self.run_checker(source, self.entries())
        self.assertEqual(rc, 1)
        self.assertIn("an error without a catalogue entry: $ ... members ... "
                      "none", err)

    def test_stale_entry_fails(self):
        entries = self.entries()
        entries[1]["match"] = "expected at most 5 members"
        rc, err = self.run_checker(SOURCE, entries)
        self.assertIn("thing.02: matches 0 sites", err)

    def test_test_must_check_the_message(self):
        rc, err = self.run_checker(
            SOURCE, self.entries(),
            test=TEST.replace("expected at most 4 members", "at most"))
        self.assertEqual(rc, 1)
        self.assertIn("thing.02: tests/unit/ThingTest.cpp:Thing.Errors does "
                      "not contain 'expected at most 4 members'", err)

    def test_missing_test_fails(self):
        entries = self.entries()
        entries[0]["test"] = "tests/unit/ThingTest.cpp:Thing.Gone"
        rc, err = self.run_checker(SOURCE, entries)
        self.assertIn("thing.01: no test Thing.Gone", err)

    def test_entry_needs_a_test_or_a_reason(self):
        entries = self.entries()
        del entries[0]["test"]
        rc, err = self.run_checker(SOURCE, entries)
        self.assertIn('thing.01: no test (and no "internal" reason)', err)
        entries[0]["internal"] = "a safety net"
        rc, err = self.run_checker(SOURCE, entries)
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main()
