"""layerscan.textload: the one bounded JSON/TOML/YAML loader, and its callers' translations."""

from __future__ import annotations

import subprocess
import sys

import pytest

from layerscan import textload
from layerscan.analyzers.langbase import ParseError, load_json, load_toml, load_yaml_documents
from layerscan.db.feeds.common import load_json as feed_json, load_yaml as feed_yaml
from layerscan.errors import FeedError, ImageError, UsageError
from layerscan.policy.vex import parse_vex
from layerscan.source.base import load_json_document

DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
DEEP_TOML = b"a = " + b"[" * 100_000 + b"]" * 100_000
DEEP_YAML = b"[" * 100_000 + b"]" * 100_000
ALIASES = b"a: &x [1, 2]\nb: *x\n"


def test_json_values_and_bytes_in_any_encoding():
    assert textload.parse_json(b'{"a": [1, "x"]}') == {"a": [1, "x"]}
    assert textload.parse_json('{"a": 1}'.encode("utf-16")) == {"a": 1}  # json.loads detects the encoding
    assert textload.parse_json(b"\xef\xbb\xbf{}") == {}


@pytest.mark.parametrize("data, fmt, parse", [
    (DEEP_JSON, "JSON", textload.parse_json),
    (DEEP_TOML, "TOML", textload.parse_toml),
    (DEEP_YAML, "YAML", textload.parse_yaml),
])
def test_nesting_bombs_are_one_load_error(data, fmt, parse):
    with pytest.raises(textload.LoadError) as info:
        parse(data)
    err = info.value
    assert err.too_deep and err.fmt == fmt and err.kind == "RecursionError"
    assert err.detail == textload.TOO_DEEP
    assert str(err) == f"invalid {fmt}: nested too deeply"


def test_syntax_errors_keep_the_parser_words():
    with pytest.raises(textload.LoadError) as info:
        textload.parse_json(b'{"a": }')
    err = info.value
    assert str(err) == "invalid JSON: Expecting value at line 1 column 7"
    assert err.detail == "Expecting value: line 1 column 7 (char 6)"
    assert err.kind == "JSONDecodeError" and not err.too_deep


def test_undecodable_bytes():
    with pytest.raises(textload.LoadError) as info:
        textload.parse_json(b'{"a": "\xff"}')
    assert info.value.kind == "UnicodeDecodeError"
    with pytest.raises(textload.LoadError, match=r"not valid UTF-8 text \(byte 2\)"):
        textload.decode_text(b"ab\xff")
    assert textload.decode_text(b"ab\xff", strict=False) == "ab\ufffd"
    assert textload.decode_text("hé".encode("utf-16")) == "hé"


def test_toml_bytes_must_be_utf8():
    assert textload.parse_toml(b'name = "x"') == {"name": "x"}
    with pytest.raises(textload.LoadError) as info:
        textload.parse_toml(b'name = "\xff"')
    assert info.value.kind == "UnicodeDecodeError"


def test_yaml_modes():
    assert textload.parse_yaml(b"v: 1.10") == {"v": 1.1}
    assert textload.parse_yaml(b"v: 1.10", strings_only=True) == {"v": "1.10"}  # versions stay strings
    assert textload.parse_yaml(b"") is None
    assert textload.parse_yaml_documents(b"a: 1\n---\n---\nb: 2\n") == [{"a": 1}, {"b": 2}]
    assert textload.parse_yaml(ALIASES) == {"a": [1, 2], "b": [1, 2]}
    with pytest.raises(textload.LoadError, match="aliases are not accepted"):
        textload.parse_yaml(ALIASES, aliases=False)
    with pytest.raises(textload.LoadError, match="aliases are not accepted"):
        textload.parse_yaml_documents(ALIASES, strings_only=True, aliases=False)


def test_yaml_value_the_constructor_refuses_is_a_load_error():
    # safe_load raises ValueError (not a YAMLError) for an impossible date
    with pytest.raises(textload.LoadError) as info:
        textload.parse_yaml(b"when: 2024-13-45\n")
    assert info.value.fmt == "YAML" and info.value.kind == "ValueError"


def test_values():
    assert textload.as_dict({"a": 1}) == {"a": 1} and textload.as_dict([1]) == {}
    assert textload.as_list([1]) == [1] and textload.as_list("x") == []
    assert textload.as_str(" x ") == "x" and textload.as_str(3) == ""


def test_each_caller_translates_into_its_own_error():
    with pytest.raises(ParseError, match="^invalid JSON: nested too deeply$"):
        load_json(DEEP_JSON)
    with pytest.raises(ParseError, match="^invalid TOML: nested too deeply$"):
        load_toml(DEEP_TOML)
    with pytest.raises(ParseError, match="^invalid YAML: .*aliases are not accepted"):
        load_yaml_documents(ALIASES)
    with pytest.raises(FeedError, match=r"^f\.json: invalid JSON \(RecursionError\)$"):
        feed_json(DEEP_JSON, "f.json")
    with pytest.raises(FeedError, match=r"^f\.yaml: invalid YAML \(\w+\)$"):  # libyaml has its own depth limit
        feed_yaml(DEEP_YAML, "f.yaml")
    assert feed_yaml(b"v: 1.10", "f.yaml") == {"v": "1.10"}
    with pytest.raises(ImageError, match="^image config x is not valid JSON: nested too deeply$"):
        load_json_document(DEEP_JSON, "image config x")
    with pytest.raises(UsageError, match=r"^v: VEX file is not valid JSON \(nested too deeply\)$"):
        parse_vex(DEEP_JSON, "v")


def test_cli_config_file_nesting_bomb_is_a_usage_error(tmp_path):
    cfg = tmp_path / "layerscan.yaml"
    cfg.write_bytes(DEEP_YAML)
    proc = subprocess.run([sys.executable, "-m", "layerscan.cli.main", "--config", str(cfg), "db", "status"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "not valid YAML: nested too deeply" in proc.stderr
    assert "Traceback" not in proc.stderr
