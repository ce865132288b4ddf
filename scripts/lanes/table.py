"""Print the lanes' table: versions (from `ketabridge doctor` in the lane), test counts, time."""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

results, lanes_file, only = Path(sys.argv[1]), Path(sys.argv[2]), set(sys.argv[3:])
columns = ("lane", "debian", "R", "metafor", "rpy2", "python", "pandas", "passed", "failed", "skipped", "minutes")
rows = []
for line in lanes_file.read_text().splitlines():
    if not line.strip() or line.startswith("#"):
        continue
    lane, suite = line.split()[:2]
    if only and lane not in only:
        continue
    doctor_file = results / f"{lane}.doctor"
    doctor = {}
    if doctor_file.exists():
        for entry in doctor_file.read_text().splitlines():
            parts = entry.split()
            if len(parts) >= 2:
                doctor[parts[0]] = parts[1]
    counts = {"passed": "-", "failed": "-", "skipped": "-"}
    junit = results / f"{lane}.junit.xml"
    if junit.exists():
        suites = ET.parse(junit).getroot()
        suite_node = suites if suites.tag == "testsuite" else suites.find("testsuite")
        total, failures, errors, skipped = (
            int(suite_node.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")
        )
        counts = {"passed": total - failures - errors - skipped, "failed": failures + errors, "skipped": skipped}
    seconds = results / f"{lane}.seconds"
    minutes = f"{int(seconds.read_text()) / 60:.1f}" if seconds.exists() else "-"
    rows.append(
        (
            lane,
            suite,
            doctor.get("R", "-"),
            doctor.get("metafor", "-"),
            doctor.get("rpy2-rinterface", "-"),
            doctor.get("python", "-"),
            doctor.get("pandas", "-"),
            counts["passed"],
            counts["failed"],
            counts["skipped"],
            minutes,
        )
    )
widths = [max(len(str(value)) for value in column) for column in zip(columns, *rows)]
for row in (columns, *rows):
    print("  ".join(str(value).ljust(width) for value, width in zip(row, widths)))
