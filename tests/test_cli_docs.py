"""README's command table lists exactly what ``flask --help`` lists: each top-level command,
and each subcommand of Backoffice's own groups (Flask-Migrate's ``db`` is one row). A
command added, removed or renamed without its row fails here, and so does a row whose
options the command does not have."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo

README = Path(__file__).resolve().parent.parent / "README.md"
WORD = re.compile(r"[a-z][a-z0-9-]*")
ROW = re.compile(r"^\| `flask ([^`]+)`")


def _readme_rows() -> dict[str, tuple[str, str]]:
    """Command path (``"stripe sync"``) -> (what its code span says after it, its row)."""
    section = README.read_text(encoding="utf-8").split("\n## Command line\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        found = ROW.match(line)
        if not found:
            continue
        words = found.group(1).split()
        path = []
        while words and WORD.fullmatch(words[0]):
            path.append(words.pop(0))
        name = " ".join(path)
        assert name not in rows, f"README lists `flask {name}` twice"
        rows[name] = (" ".join(words), line)
    return rows


def _is_ours(command: click.Command) -> bool:
    return (getattr(command.callback, "__module__", None) or "").startswith("dashboard.")


def _help_commands(app: Flask) -> dict[str, click.Command]:
    """What ``flask --help`` lists, with the subcommands of Backoffice's own groups."""
    group = FlaskGroup(create_app=lambda: app)
    found: dict[str, click.Command] = {}
    with click.Context(group, obj=ScriptInfo(create_app=lambda: app)) as context:
        for name in group.list_commands(context):
            command = group.get_command(context, name)
            if command is None or command.hidden:
                continue
            subcommands = getattr(command, "commands", {})
            if subcommands and all(_is_ours(sub) for sub in subcommands.values()):
                found.update({f"{name} {sub_name}": sub for sub_name, sub in subcommands.items()})
            else:
                found[name] = command
    return found


@pytest.fixture(scope="module")
def commands(session_app: Flask) -> dict[str, click.Command]:
    return _help_commands(session_app)


def test_the_readme_lists_every_command_and_nothing_else(commands):
    rows = _readme_rows()
    missing = sorted(set(commands) - set(rows))
    stale = sorted(set(rows) - set(commands))
    assert not missing and not stale, f"README lacks {missing}; README lists unknown {stale}"


def test_the_readme_mentions_only_options_the_command_has(commands):
    for name, (usage, _) in _readme_rows().items():
        options = {opt for param in commands[name].params for opt in param.opts}
        unknown = set(re.findall(r"--[a-z][a-z0-9-]*", usage)) - options
        assert not unknown, f"`flask {name}` has no option {sorted(unknown)}"


def test_an_alias_says_so_in_help_and_in_the_readme(commands):
    rows = _readme_rows()
    aliases = {
        name: command.get_short_help_str().removeprefix("Alias of flask ").rstrip(".")
        for name, command in commands.items()
        if command.get_short_help_str().startswith("Alias of flask ")
    }
    assert aliases == {"setup-admin": "staff setup-admin", "sync-stripe": "stripe sync"}
    for name, target in aliases.items():
        assert commands[name].callback is commands[target].callback
        assert f"alias of `flask {target}`" in rows[name][1]
