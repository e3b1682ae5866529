"""The flags table and the precedence CLI > environment > config file > default."""

from __future__ import annotations

import argparse

import pytest

from layerscan.cli.flags import FLAGS, KINDS, add_flags, config_lookup, convert, flags_for, resolve, BY_DEST
from layerscan.errors import UsageError


def test_table_is_consistent():
    dests = [f.dest for f in FLAGS]
    assert len(dests) == len(set(dests))
    keys = [f.config_key for f in FLAGS if f.config_key]
    assert len(keys) == len(set(keys))
    names = [n for f in FLAGS for n in f.names]
    assert len(names) == len(set(names))
    for f in FLAGS:
        assert f.kind in KINDS and f.commands and f.help
        assert f.env == "LAYERSCAN_" + f.dest.upper()


def test_every_scan_command_accepts_cache_dir():
    for cmd in ("image", "rootfs", "fs", "sbom", "db"):
        assert "cache_dir" in {f.dest for f in flags_for(cmd)}


def _parse(argv: list[str], command: str = "image") -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_flags(parser, flags_for(command))
    return parser.parse_args(argv)


@pytest.mark.parametrize("argv,env,config,expected", [
    ([], {}, {}, False),
    ([], {}, {"vulnerability": {"ignore-unfixed": True}}, True),
    ([], {}, {"vulnerability.ignore-unfixed": True}, True),
    ([], {"LAYERSCAN_IGNORE_UNFIXED": "false"}, {"vulnerability": {"ignore-unfixed": True}}, False),
    ([], {"LAYERSCAN_IGNORE_UNFIXED": "1"}, {}, True),
    (["--ignore-unfixed"], {"LAYERSCAN_IGNORE_UNFIXED": "false"}, {}, True),
])
def test_bool_precedence(argv, env, config, expected):
    assert resolve(_parse(argv), "image", env, config)["ignore_unfixed"] is expected


def test_value_precedence_cli_env_config_default():
    config = {"severity": ["HIGH", "CRITICAL"], "exit-code": 4, "format": "json"}
    env = {"LAYERSCAN_EXIT_CODE": "5"}
    opts = resolve(_parse(["-f", "sarif"]), "image", env, config)
    assert opts["format"] == "sarif"  # CLI
    assert opts["exit_code"] == 5  # env over config
    assert opts["severity"] == "HIGH,CRITICAL"  # config list joined
    assert opts["pkg_types"] == "os,library"  # default
    assert resolve(_parse(["--vuln-type", "os"]), "image", {}, {})["pkg_types"] == "os"  # alias


def test_repeatable_vex_from_cli_env_config():
    assert resolve(_parse(["--vex", "a.json", "--vex", "b.json"]), "image", {}, {})["vex"] == ("a.json", "b.json")
    assert resolve(_parse([]), "image", {"LAYERSCAN_VEX": "a.json,b.json"}, {})["vex"] == ("a.json", "b.json")
    assert resolve(_parse([]), "image", {}, {"vulnerability": {"vex": ["c.json"]}})["vex"] == ("c.json",)


def test_lazy_default_only_when_unset():
    calls = []
    opts = resolve(_parse([]), "image", {}, {}, {"cache_dir": lambda: calls.append(1) or "/lazy"})
    assert opts["cache_dir"] == "/lazy" and calls == [1]
    opts = resolve(_parse(["--cache-dir", "/x"]), "image", {}, {}, {"cache_dir": lambda: calls.append(1) or "/lazy"})
    assert opts["cache_dir"] == "/x" and calls == [1]


@pytest.mark.parametrize("dest,value", [("exit_code", "x"), ("exit_code", True), ("quiet", "perhaps"),
                                        ("format", "xml")])
def test_bad_env_or_config_values_are_usage_errors(dest, value):
    with pytest.raises(UsageError):
        convert(BY_DEST[dest], value, "somewhere")


def test_config_lookup_nested_and_flat():
    assert config_lookup({"a": {"b-c": 1}}, "a.b-c") == (True, 1)
    assert config_lookup({"a.b-c": 2}, "a.b-c") == (True, 2)
    assert config_lookup({"a": 3}, "a.b") == (False, None)
    assert config_lookup({}, "") == (False, None)
