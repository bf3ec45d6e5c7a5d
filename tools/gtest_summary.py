"""Sums the GoogleTest XML reports of the given build directories into one closing line:
'N passed, N failed, N skipped'. Exits non-zero if any test failed or no test ran."""
import pathlib
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
for build in sys.argv[1:]:
    for report in sorted(pathlib.Path(build).glob("tests/*.xml")):
        for case in ET.parse(report).getroot().iter("testcase"):
            if case.find("failure") is not None:
                failed += 1
            elif case.get("result") == "skipped" or case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
