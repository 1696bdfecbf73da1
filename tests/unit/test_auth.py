"""Bearer tokens: hashed in the file, re-read on change, failing closed on a broken file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from api import auth
from api.auth import TokenStore, parse_tokens
from service.settings import ConfigError


def write(path: Path, text: str, bump_s: float = 0.0) -> None:
    path.write_text(text)
    if bump_s:
        stat = path.stat()
        os.utime(path, (stat.st_atime + bump_s, stat.st_mtime + bump_s))


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_a_known_token_names_its_holder_and_others_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    write(path, f"lobby: {sha('secret-1')}\nfloor-2: {sha('secret-2').upper()}\n")
    store = TokenStore(path)
    assert store.holder("secret-1") == "lobby"
    assert store.holder("secret-2") == "floor-2"
    assert store.holder("secret-3") is None
    assert store.holder(sha("secret-1")) is None, "the digest itself is not a token"


def test_revoking_takes_effect_without_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "CHECK_EVERY_S", 0.0)
    path = tmp_path / "tokens.yaml"
    write(path, f"lobby: {sha('secret-1')}\nfloor-2: {sha('secret-2')}\n")
    store = TokenStore(path)
    write(path, f"floor-2: {sha('secret-2')}\n", bump_s=5)
    assert store.holder("secret-1") is None
    assert store.holder("secret-2") == "floor-2"


def test_a_broken_file_after_start_rejects_every_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "CHECK_EVERY_S", 0.0)
    path = tmp_path / "tokens.yaml"
    write(path, f"lobby: {sha('secret-1')}\n")
    store = TokenStore(path)
    write(path, "lobby: [not, a, digest]\n", bump_s=5)
    assert store.holder("secret-1") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lobby: abc\n", "'lobby' must be the token's SHA-256"),
        ("- a\n- b\n", "must map token names"),
        ("lobby: [\n", "not valid YAML"),
    ],
)
def test_a_bad_tokens_file_is_named_with_its_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "tokens.yaml"
    write(path, text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        parse_tokens(path)


def test_a_missing_tokens_file_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tokens.yaml"):
        TokenStore(tmp_path / "tokens.yaml")


def test_old_entries_only_read_and_scoped_entries_grant_what_they_list(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    write(
        path,
        f"lobby: {sha('tv')}\n"
        f"feeder: {{sha256: {sha('feed')}, scopes: [ingest]}}\n"
        f"ops: {{sha256: {sha('ops')}, scopes: [read, ingest]}}\n",
    )
    store = TokenStore(path)
    assert store.grant("tv") == auth.Grant("lobby", frozenset({"read"}))
    assert store.grant("feed") == auth.Grant("feeder", frozenset({"ingest"}))
    assert store.grant("ops") == auth.Grant("ops", frozenset({"read", "ingest"}))


@pytest.mark.parametrize(
    "entry",
    [
        f"{{sha256: {sha('x')}, scopes: [write]}}",
        f"{{sha256: {sha('x')}, scopes: []}}",
        f"{{sha256: {sha('x')}}}",
        "{sha256: abc, scopes: [ingest]}",
        f"{{sha256: {sha('x')}, scopes: [ingest], extra: 1}}",
    ],
)
def test_a_bad_scoped_entry_is_refused_with_its_name(tmp_path: Path, entry: str) -> None:
    path = tmp_path / "tokens.yaml"
    write(path, f"feeder: {entry}\n")
    with pytest.raises(ConfigError, match="'feeder'"):
        parse_tokens(path)


def test_the_line_for_a_new_token_parses_back_to_its_scopes(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    write(path, auth.token_line("tv", "t1", frozenset({"read"})) + "\n" + auth.token_line("feed", "t2", frozenset({"ingest"})) + "\n")
    assert parse_tokens(path) == {"tv": (sha("t1"), frozenset({"read"})), "feed": (sha("t2"), frozenset({"ingest"}))}
    assert path.read_text().startswith(f"tv: {sha('t1')}\n")
