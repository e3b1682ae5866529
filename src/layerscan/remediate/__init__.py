"""Remediation: what to do about what the scan found (docs/cli.md "Remediation").

    assess      the library scan + base image + end of life, for one image
    base        base-image identification (declared / matched / dockerfile / heuristic)
    dockerfile  the final stage's FROM, ARGs resolved
    cves        findings grouped by package, filters, text/JSON
    compare     packages and findings changed from image A to image B
    quickview   the one-screen summary
    tags        the docker-library tag grammar <version>[-<flavor>][-<os>]
    recommend   base-image candidates (refresh, patch, minor, os, major, alternative), scanned and ranked
    fixtarget   one target version per package from its namespace's advisory rows
    fixplan     fix-plan owners (base / rebuild / os / lang), groups per layer, Dockerfile lines
    fixpatch    a fix-plan group's Dockerfile patch, when exact (GitLab remediations)
    fixcommands the one command of a fix-plan group (apt-get, apk, dnf, pip, npm, go, ...)
"""
