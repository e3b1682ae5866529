"""The one table of CLI flags: names, destination, type, default, environment
variable (``LAYERSCAN_<DEST>``), config-file key, help, and the commands that
take them. Precedence: command line > environment > config file > default.

argparse is given ``SUPPRESS`` defaults so that "not given on the command line"
is visible; :func:`resolve` then fills every flag from env, config, default.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from layerscan.errors import UsageError

SCAN_COMMANDS = frozenset({"image", "rootfs", "fs", "sbom"})
DB_SUBCOMMANDS = ("update", "import", "status", "push")
DB_COMMANDS = frozenset(f"db {name}" for name in DB_SUBCOMMANDS)  # ``db update`` ... resolve as "db update"
DB_UPDATE = frozenset({"db update"})
REMEDIATE_COMMANDS = frozenset({"cves", "quickview", "compare", "recommendations"})  # take every ``image`` flag too
ALL_COMMANDS = SCAN_COMMANDS | {"db", "explain"} | DB_COMMANDS | REMEDIATE_COMMANDS
REGISTRY_COMMANDS = ALL_COMMANDS - {"db import", "db status"}  # may talk to an OCI registry
IMAGE = frozenset({"image", "explain"})  # commands that open an image
WALK = SCAN_COMMANDS - {"sbom"} | {"explain"}  # commands that may walk layers / directories
EXPLAIN = frozenset({"explain"})
FORMATS = ("table", "json", "cyclonedx", "spdx-json", "spdx", "sarif", "html", "junit", "gitlab", "github", "copa",
           "template")
ENV_PREFIX = "LAYERSCAN_"

# kinds: bool, str, int, list (comma-separated string), multi (repeatable; list of strings),
# duration (seconds as a float; Go/Trivy syntax "5m", "1h30m", "90s", or a plain number of seconds)
KINDS = ("bool", "str", "int", "list", "multi", "duration")
SCANNERS_RUN = ("vuln", "none")
SCANNERS_NOT_RUN = ("secret", "misconfig", "license", "rbac", "config")  # Trivy's: accepted, warned about
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in ``text``: ``300``, ``5m``, ``1h30m``, ``2.5s`` (Go's time.ParseDuration units)."""
    value = str(text).strip()
    try:
        seconds = float(value)
    except ValueError:
        parts = list(_DURATION_PART.finditer(value))
        if not parts or "".join(m.group(0) for m in parts) != value:
            raise argparse.ArgumentTypeError(f"invalid duration {value!r} (examples: 60, 90s, 5m, 1h30m)") from None
        seconds = sum(float(m.group(1)) * _UNIT_SECONDS[m.group(2)] for m in parts)
    if not 0 < seconds < 10 ** 7:
        raise argparse.ArgumentTypeError(f"invalid duration {value!r}: must be positive")
    return seconds


@dataclass(frozen=True)
class Flag:
    names: tuple[str, ...]
    dest: str
    kind: str
    default: Any
    config_key: str
    help: str
    commands: frozenset[str]
    choices: tuple[str, ...] = ()
    metavar: str = ""
    group: str = "scan"  # help section: global, image, scan, policy, report, db

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()


def _f(names: str, dest: str, kind: str, default: Any, key: str, help: str,
       commands: Iterable[str] = SCAN_COMMANDS, group: str = "scan", **kw: Any) -> Flag:
    return Flag(tuple(names.split()), dest, kind, default, key, help, frozenset(commands), group=group, **kw)


# Global flags (every command, including db). cache_dir default is computed lazily.
FLAGS: tuple[Flag, ...] = (
    _f("-c --config", "config", "str", "", "", "config file (YAML; default ./layerscan.yaml if present)",
       ALL_COMMANDS, "global", metavar="FILE"),
    _f("--cache-dir", "cache_dir", "str", "", "cache.dir",
       "cache root: vulnerability database and layer cache (default: user cache dir/layerscan)",
       ALL_COMMANDS, "global", metavar="DIR"),
    _f("-q --quiet", "quiet", "bool", False, "quiet", "no progress and no warnings", ALL_COMMANDS, "global"),
    _f("--no-progress", "no_progress", "bool", False, "no-progress", "no progress bars", ALL_COMMANDS, "global"),
    _f("-d --debug", "debug", "bool", False, "debug", "debug logging; tracebacks on errors", ALL_COMMANDS,
       "global"),
    _f("--timeout", "timeout", "duration", 300.0, "timeout",
       "deadline of a whole image pull (registry requests and layer downloads) and of each feed download: "
       "seconds or a duration (90s, 5m; default 5m)",
       ALL_COMMANDS, "global", metavar="DURATION"),
    # image sources
    _f("--input", "input", "str", "", "image.input",
       "image from a file: docker archive (.tar/.tar.gz) or OCI layout (dir or tar), PATH[:TAG|@DIGEST]",
       IMAGE, "image", metavar="PATH"),
    _f("--platform", "platform", "str", "", "image.platform", "platform of a multi-arch image: os/arch[/variant]",
       IMAGE, "image", metavar="OS/ARCH"),
    _f("--username", "username", "str", "", "registry.username", "registry user name", IMAGE, "image"),
    _f("--password", "password", "str", "", "registry.password", "registry password (prefer --password-stdin)",
       IMAGE, "image"),
    _f("--password-stdin", "password_stdin", "bool", False, "registry.password-stdin",
       "read the registry password from stdin", IMAGE, "image"),
    _f("--insecure", "insecure", "bool", False, "insecure",
       "allow plain-HTTP registries and unverified TLS (image pulls and --db-repository)",
       REGISTRY_COMMANDS, "image"),
    _f("--docker-config", "docker_config", "str", "", "registry.docker-config",
       "docker config.json with registry credentials (default ~/.docker/config.json)", IMAGE, "image",
       metavar="FILE"),
    # scanning
    _f("--scanners", "scanners", "list", "", "scan.scanners",
       "vuln (match the database) or none (list packages only); default: vuln, but none for SBOM formats. "
       "Trivy's secret, misconfig and license are accepted with a warning (not run)",
       SCAN_COMMANDS, "scan", metavar="LIST"),
    _f("--sbom-only", "sbom_only", "bool", False, "scan.sbom-only", "same as --scanners none", SCAN_COMMANDS),
    _f("--no-cache", "no_cache", "bool", False, "cache.disabled", "do not read or write the layer cache",
       WALK),
    _f("--parallel", "parallel", "int", 2, "scan.parallel", "layers analysed in parallel", WALK, metavar="N"),
    _f("--include-dev-deps", "include_dev_deps", "bool", False, "pkg.include-dev-deps",
       "include development dependencies from lockfiles", WALK),
    _f("--skip-dirs", "skip_dirs", "list", "", "scan.skip-dirs", "comma-separated directories to skip",
       WALK, metavar="DIRS"),
    _f("--skip-files", "skip_files", "list", "", "scan.skip-files",
       "comma-separated files (or globs) to skip", WALK, metavar="FILES"),
    _f("--skip-java-db-update", "skip_java_db_update", "bool", False, "db.skip-java-db-update",
       "accepted for Trivy compatibility: jars are identified offline, there is no separate Java database",
       SCAN_COMMANDS, "scan"),
    _f("--detection-priority", "detection_priority", "str", "precise", "scan.detection-priority",
       "accepted for Trivy compatibility; layerscan always matches precisely (ecosystem-exact versions, "
       "distro data first) and records what it cannot identify as unknowns", SCAN_COMMANDS, "scan",
       choices=("precise", "comprehensive")),
    _f("--skip-db-update", "skip_db_update", "bool", False, "db.skip-update",
       "do not update the vulnerability database before scanning", SCAN_COMMANDS, "scan"),
    _f("--offline-scan", "offline_scan", "bool", False, "offline-scan", "never use the network while scanning",
       SCAN_COMMANDS),
    _f("--db-repository", "db_repository", "str", "", "db.repository",
       "pull a prebuilt database (OCI artifact REGISTRY/REPO:TAG, see 'db push') instead of the feeds",
       SCAN_COMMANDS | DB_UPDATE, "db", metavar="REF"),
    _f("--db-max-age", "db_max_age", "str", "7d", "db.max-age",
       "warn when the database is older than this (e.g. 7d, 12h)", SCAN_COMMANDS | DB_COMMANDS, "db",
       metavar="AGE"),
    # db subcommands (the positional PATHs of 'db import' and REF of 'db push' are in cli/db_cmd.py)
    _f("--ecosystems", "ecosystems", "list", "", "db.ecosystems",
       "OSV ecosystems to fetch, comma-separated (default: all known; 'auto': the sources the database "
       "already holds)", DB_UPDATE, "db", metavar="LIST"),
    _f("--sources", "db_sources", "list", "", "db.sources",
       "feeds to fetch, comma-separated, e.g. osv,debian,nvd (default: all; an unknown name lists them)",
       DB_UPDATE, "db", metavar="LIST"),
    _f("--force", "db_force", "bool", False, "", "rebuild even when no feed changed", DB_UPDATE, "db"),
    _f("--replace", "db_replace", "bool", False, "", "drop sources not present in PATHs", {"db import"}, "db"),
    _f("--json", "db_json", "bool", False, "", "print the metadata as JSON", {"db status"}, "db"),
    # policy
    _f("-s --severity", "severity", "list", "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL", "severity",
       "severities to show (comma-separated; default all). UNKNOWN = no source rates the finding: "
       "'--severity CRITICAL,HIGH' hides and does not gate on those unless UNKNOWN is listed "
       "(--fail-on-kev gates on known-exploited ones whatever their severity)",
       SCAN_COMMANDS, "policy", metavar="LIST"),
    _f("--fail-on", "fail_on", "list", "", "vulnerability.fail-on",
       "severities that fail the build (default: the shown severities)", SCAN_COMMANDS, "policy", metavar="LIST"),
    _f("--exit-code", "exit_code", "int", 0, "exit-code", "exit code when a failing vulnerability is found",
       SCAN_COMMANDS, "policy", metavar="N"),
    _f("--fail-on-kev", "fail_on_kev", "bool", False, "vulnerability.fail-on-kev",
       "fail the build (with --exit-code, else 1) on any finding listed in CISA's Known Exploited "
       "Vulnerabilities catalogue, whatever its severity or status; such findings are shown even when "
       "--severity/--ignore-unfixed/--ignore-status would hide them (only an ignore entry or VEX "
       "statement exempts one)", SCAN_COMMANDS, "policy"),
    _f("--fail-on-unscanned-os", "fail_on_unscanned_os", "bool", False, "vulnerability.fail-on-unscanned-os",
       "fail the build (with --exit-code, else 1) when the database has no advisories for the image's "
       "distribution, so its OS packages were not checked (without it: a warning, and the report says "
       "'not scanned')", SCAN_COMMANDS, "policy"),
    _f("--exit-on-eol", "exit_on_eol", "int", 0, "exit-on-eol",
       "exit code when the OS, or a runtime found in the image (python, node, java, go, ruby, php, "
       "dotnet: from ENV, OS packages or binaries), is end-of-life", SCAN_COMMANDS, "policy", metavar="N"),
    _f("--ignore-unfixed", "ignore_unfixed", "bool", False, "vulnerability.ignore-unfixed",
       "show only vulnerabilities with a fix", SCAN_COMMANDS, "policy"),
    _f("--ignore-status", "ignore_status", "list", "", "vulnerability.ignore-status",
       "statuses to ignore (overrides --ignore-unfixed)", SCAN_COMMANDS, "policy", metavar="LIST"),
    _f("--pkg-types --vuln-type", "pkg_types", "list", "os,library", "pkg.types",
       "package types to report: os,library", SCAN_COMMANDS, "policy", metavar="LIST"),
    _f("--ignorefile", "ignorefile", "str", ".layerscanignore", "ignorefile",
       "ignore file (YAML with id/purl/path/reason/expires, or .trivyignore lines)", SCAN_COMMANDS, "policy",
       metavar="FILE"),
    _f("--vex", "vex", "multi", (), "vulnerability.vex", "OpenVEX or CycloneDX VEX file (repeatable)",
       SCAN_COMMANDS, "policy", metavar="FILE"),
    _f("--ignore-policy", "ignore_policy", "str", "", "ignore-policy",
       "Trivy's Rego ignore policy: not supported (an error); use --ignorefile or --vex", SCAN_COMMANDS,
       "policy", metavar="FILE"),
    _f("--show-suppressed", "show_suppressed", "bool", False, "show-suppressed",
       "also list the findings that ignore files and VEX suppressed (hidden by default, as in Trivy)",
       SCAN_COMMANDS, "policy"),
    _f("--exclude-base-layers", "exclude_base_layers", "str", "", "vulnerability.exclude-base-layers",
       "findings from the base image's layers are shown (marked BaseLayer) but do not fail the build: "
       "'auto' = base boundary guessed from the image history (the last empty CMD/ENTRYPOINT step "
       "before the image's own steps, as Trivy guesses it; base.name/base.digest labels are reported), "
       "N = the first N filesystem layers are the base", SCAN_COMMANDS, "policy", metavar="auto|N"),
    _f("--baseline", "baseline", "str", "", "vulnerability.baseline",
       "previous layerscan or Trivy JSON report: findings already in it (same package name and "
       "vulnerability ID or alias, any installed version) are shown but do not fail the build; "
       "new ones are marked New", SCAN_COMMANDS, "policy", metavar="FILE"),
    # report
    _f("-f --format", "format", "str", "table", "format",
       "report format; 'template' takes Trivy's bundled templates (-t @html.tpl, @junit.tpl, @gitlab.tpl)",
       SCAN_COMMANDS | EXPLAIN, "report", choices=FORMATS),
    _f("-t --template", "template", "str", "", "template",
       "with -f template: @html.tpl, @junit.tpl or @gitlab.tpl (Trivy's names; custom Go templates are "
       "not supported)", SCAN_COMMANDS, "report", metavar="@FILE"),
    _f("-o --output", "output", "str", "", "output", "write the report to FILE (default: stdout)",
       SCAN_COMMANDS | EXPLAIN, "report", metavar="FILE"),
    _f("--list-all-pkgs", "list_all_pkgs", "bool", False, "list-all-pkgs",
       "list every package in json/table output; without it, as in Trivy, -f json omits the Packages "
       "of each result (only findings) - pass it when the JSON is used as an SBOM. SBOM formats "
       "(cyclonedx, spdx-json, spdx, github) always list every package", SCAN_COMMANDS, "report"),
    _f("--dependency-tree", "dependency_tree", "bool", False, "dependency-tree",
       "accepted for Trivy compatibility; the table does not draw dependency trees yet (a warning says so)",
       SCAN_COMMANDS, "report"),
    # explain: which target (default: an image name or --input)
    _f("--rootfs", "rootfs_target", "str", "", "", "explain for a root filesystem directory", EXPLAIN,
       "target", metavar="DIR"),
    _f("--fs", "fs_target", "str", "", "", "explain for a project directory (lockfiles)", EXPLAIN, "target",
       metavar="DIR"),
    _f("--sbom", "sbom_target", "str", "", "", "explain for a CycloneDX/SPDX SBOM file", EXPLAIN, "target",
       metavar="FILE"),
    _f("--dockerfile", "dockerfile", "str", "", "report.dockerfile",
       "Dockerfile path that SARIF results point at and --fix-plan maps layers to (cves/quickview/compare: "
       "its final FROM names the base image)",
       SCAN_COMMANDS, "report", metavar="FILE"),
    # remediation (cves, quickview, compare; docs/cli.md "Remediation")
    _f("--fix-plan", "fix_plan", "bool", False, "remediate.fix-plan",
       "after the table (FixPlan in -f json, a panel per layer in -f html, remediations in -f gitlab): "
       "a target version per package, each fix with its owner (base image, OS or language upgrade in "
       "layer N, rebuild) and one command per group "
       "(docs/cli.md \"Fix plan\"); -f copa always builds it", SCAN_COMMANDS, "remediation"),
    _f("--build-arg", "build_arg", "multi", (), "remediate.build-arg",
       "NAME=VALUE for an ARG of --dockerfile when its FROM line names the base image (repeatable)",
       REMEDIATE_COMMANDS | SCAN_COMMANDS, "remediation", metavar="NAME=VALUE"),
    _f("--only-fixed", "only_fixed", "bool", False, "remediate.only-fixed",
       "only vulnerabilities with a fixed version", {"cves"}, "remediation"),
    _f("--only-severity", "only_severity", "list", "", "remediate.only-severity",
       "only these severities (comma-separated)", {"cves"}, "remediation", metavar="LIST"),
    _f("--only-package", "only_package", "list", "", "remediate.only-package",
       "only these packages (comma-separated names)", {"cves"}, "remediation", metavar="NAMES"),
    _f("--only-base", "only_base", "bool", False, "remediate.only-base",
       "only vulnerabilities in the base image's layers", {"cves"}, "remediation"),
    _f("--ignore-base", "ignore_base", "bool", False, "remediate.ignore-base",
       "leave out vulnerabilities in the base image's layers", {"cves"}, "remediation"),
)

BY_DEST: dict[str, Flag] = {f.dest: f for f in FLAGS}


def flags_for(command: str) -> tuple[Flag, ...]:
    inherited = "image" if command in REMEDIATE_COMMANDS else command
    return tuple(f for f in FLAGS if command in f.commands or inherited in f.commands)


def add_flags(parser: argparse.ArgumentParser, flags: Iterable[Flag]) -> None:
    """Add ``flags`` to ``parser`` with SUPPRESS defaults, grouped by section."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for flag in flags:
        group = groups.get(flag.group)
        if group is None:
            group = groups[flag.group] = parser.add_argument_group(f"{flag.group} options")
        help_text = f"{flag.help} [env {flag.env}]"
        kw: dict[str, Any] = {"dest": flag.dest, "default": argparse.SUPPRESS, "help": help_text}
        if flag.kind == "bool":
            kw["action"] = "store_true"
        elif flag.kind == "multi":
            kw["action"] = "append"
        if flag.kind == "int":
            kw["type"] = int
        elif flag.kind == "duration":
            kw["type"] = parse_duration
        if flag.choices:
            kw["choices"] = flag.choices
        if flag.metavar and flag.kind != "bool":
            kw["metavar"] = flag.metavar
        group.add_argument(*flag.names, **kw)


def _truthy(value: str, where: str) -> bool:
    low = value.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise UsageError(f"{where}: expected true or false, got {value!r}")


def convert(flag: Flag, value: Any, where: str) -> Any:
    """Convert an env/config value to the flag's kind (bad values are usage errors)."""
    if flag.kind == "bool":
        return value if isinstance(value, bool) else _truthy(str(value), where)
    if flag.kind == "int":
        if isinstance(value, bool):
            raise UsageError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(str(value).strip())
        except ValueError:
            raise UsageError(f"{where}: expected an integer, got {value!r}") from None
    if flag.kind == "duration":
        try:
            return parse_duration(str(value))
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"{where}: {exc}") from None
    if flag.kind == "list":
        if isinstance(value, (list, tuple)):
            return ",".join(str(v) for v in value)
        return str(value)
    if flag.kind == "multi":
        if isinstance(value, (list, tuple)):
            return tuple(str(v) for v in value)
        return tuple(v for v in str(value).split(",") if v)
    text = str(value)
    if flag.choices and text not in flag.choices:
        raise UsageError(f"{where}: invalid choice {text!r} (choose from {', '.join(flag.choices)})")
    return text


def config_lookup(config: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """Find ``a.b-c`` as nested mappings ({a: {b-c: v}}) or as a flat dotted key."""
    if not key:
        return False, None
    if key in config:
        return True, config[key]
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def resolve(args: argparse.Namespace, command: str, env: Mapping[str, str],
            config: Mapping[str, Any], defaults: Mapping[str, Callable[[], Any]] | None = None) -> dict[str, Any]:
    """Every flag of ``command`` with its effective value: CLI > env > config > default."""
    given = vars(args)
    out: dict[str, Any] = {}
    for flag in flags_for(command):
        if flag.dest in given:
            value = given[flag.dest]
            out[flag.dest] = tuple(value) if flag.kind == "multi" else value
            continue
        if flag.env in env:
            out[flag.dest] = convert(flag, env[flag.env], flag.env)
            continue
        found, value = config_lookup(config, flag.config_key)
        if found and value is not None:
            out[flag.dest] = convert(flag, value, f"config {flag.config_key}")
            continue
        lazy = (defaults or {}).get(flag.dest)
        out[flag.dest] = lazy() if lazy else flag.default
    return out


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}


def default_config_yaml() -> str:
    """A config file with every key at its default (``--generate-default-config``)."""
    tree: dict[str, Any] = {}
    for flag in FLAGS:
        if not flag.config_key or flag.dest in ("password",):
            continue
        node = tree
        parts = flag.config_key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = list(flag.default) if flag.kind == "multi" else flag.default
    import yaml

    return yaml.safe_dump(tree, sort_keys=True, default_flow_style=False)
