#!/usr/bin/env python3
"""Regenerate lwds-objects.json, the object definitions lwds ships.

Usage: data/objects/generate.py LWDS_OBJDEF DDF_DIR > data/objects/lwds-objects.json

LWDS_OBJDEF is the built tools/objdef/lwds-objdef, DDF_DIR a directory of OMA
registry DDF files named <ObjectID>.xml.  The definitions come from our own
DDF importer (`lwds-objdef convert`); then the serialisation names below are
put back to the names the original Device Server published for these objects
(spec Appendix B), because instance bodies use them as JSON member / XML
element names: they are part of the REST contract.  Everything else (types,
access, resources) follows the current OMA registry.  Review the diff of the
JSON file after regenerating.
"""
import json
import subprocess
import sys

OBJECTS = [0, 1, 2, 3, 4, 5, 6, 7, 15,
           3200, 3201, 3202, 3203] + list(range(3300, 3307)) + \
          [3308] + list(range(3310, 3349))

# Object-level names of the REST contract that the registry has changed.
OBJECT_NAMES = {
    15: {"Name": "DeviceCapability", "SerialisationName": "DeviceCapability",
         "MIMEType": "application/vnd.oma.lwm2m.devicecapability"},
    3348: {"Name": "Multistate Selector",
           "SerialisationName": "MultistateSelector"},
}

# (ObjectID, PropertyID) -> SerialisationName of the REST contract, where the
# registry's resource name differs.  Names the original used twice in one
# object (3342 and 3347, resource 5501) are not kept: a body could not say
# which resource it means.
PROPERTY_NAMES = {
    (5, 6): "PackageName", (5, 7): "PackageVersion",
    (6, 3): "Uncertainty", (7, 6): "StartOrReset",
    (3306, 5850): "On", (3306, 5852): "OnTime",
    (3306, 5853): "Muti-stateOutput",
    (3308, 5701): "Units",
    (3311, 5850): "On", (3311, 5852): "OnTime",
    (3312, 5850): "On", (3312, 5852): "OnTime",
    (3331, 5701): "Units", (3331, 5822): "ResetCumulativeEnergy",
    (3335, 5701): "Units",
    (3337, 5605): "ResetMinandMaxMeasuredValue",
    (3338, 5850): "On", (3338, 5521): "Duration",
    (3340, 5521): "Duration", (3340, 5850): "On", (3340, 5526): "Mode",
    (3342, 5852): "OnTime", (3343, 5852): "OnTime",
    (3344, 5532): "IncreaseinputState",
    (3348, 5547): "Multistateinput",
}


def main():
    tool, ddf_dir = sys.argv[1], sys.argv[2]
    files = ["%s/%d.xml" % (ddf_dir, oid) for oid in OBJECTS]
    out = subprocess.run([tool, "convert"] + files, check=True,
                         capture_output=True, text=True).stdout
    doc = json.loads(out)
    for d in doc["Items"]:
        oid = int(d["ObjectID"])
        d.update(OBJECT_NAMES.get(oid, {}))
        for p in d["Properties"]:
            name = PROPERTY_NAMES.get((oid, int(p["PropertyID"])))
            if name:
                p["SerialisationName"] = name
    json.dump(doc, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
