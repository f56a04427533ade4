"""Counts what a folder of DICOM files holds, by pydicom, independently of medlake.

Usage: count_dicom.py FOLDER OUT.json

Writes the numbers of distinct patients, studies, series and instances (a DICOMDIR index
is not an instance), the files pydicom cannot read as DICOM and the DICOMDIR files (paths
relative to FOLDER), and the identifiers a test must never find in the lake (patient
names, IDs, birth dates, other IDs). Prints only the counts, never a path or an identifier.
"""
import json
import os
import sys

import pydicom
from pydicom.errors import InvalidDicomError

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"


def main(folder, out):
    patients, studies, series, instances = set(), set(), set(), set()
    unreadable, dicomdirs, identifiers = [], [], set()
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except (InvalidDicomError, OSError, ValueError, EOFError):
                unreadable.append(os.path.relpath(path, folder))
                continue
            sop_class = str(ds.get("SOPClassUID", "") or ds.file_meta.get("MediaStorageSOPClassUID", ""))
            if sop_class == DICOMDIR_CLASS:
                dicomdirs.append(os.path.relpath(path, folder))
                continue
            patients.add(str(ds.get("PatientID", "")))
            studies.add(str(ds.StudyInstanceUID))
            series.add(str(ds.SeriesInstanceUID))
            instances.add(str(ds.SOPInstanceUID))
            for keyword in ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs"):
                value = ds.get(keyword)
                if value is None:
                    continue
                values = value if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
                for v in values:
                    text = str(v).strip()
                    # Short values (a one-letter name, "0") would match by chance anywhere.
                    if len(text) >= 5:
                        identifiers.add(text)
                        identifiers.update(part for part in text.split("^") if len(part) >= 5)
    result = {
        "patients": len(patients),
        "studies": len(studies),
        "series": len(series),
        "instances": len(instances),
        "unreadable": len(unreadable),
        "unreadable_files": sorted(unreadable),
        "dicomdir_files": sorted(dicomdirs),
        "identifiers": sorted(identifiers),
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
