"""numpydoc on the public API: every public function documents each of its parameters, with the
type and the default the code has, what it returns, and (where it says) what it raises.

``help(ketabridge.rma)`` is the first documentation a user reads, so the sections are checked
against ``inspect.signature``: a parameter added, renamed or re-defaulted without its docstring
fails here. Parsed with the standard library (numpydoc's layout: a title underlined with dashes,
then ``name : type`` lines with indented descriptions).
"""

from __future__ import annotations

import inspect
import re

import pytest

import ketabridge

FUNCTIONS = [name for name in ketabridge.__all__ if inspect.isfunction(getattr(ketabridge, name))]
# The public functions: a decorator or wrapper must not hide one of these from FUNCTIONS.
DOCUMENTED = {
    "escalc", "rma", "trimfill", "regtest", "ranktest", "predict", "confint", "leave1out", "influence", "cumul",
    "fsn", "forest", "funnel", "correlation_grid", "pool_proportions", "batch", "crosscheck", "declare_engine",
    "selmodel", "plot_selmodel", "pet_peese", "tes", "permutest",
}  # fmt: skip
ORDER = ("Parameters", "Returns", "Raises")  # numpydoc's order of the sections used here
ENTRY = re.compile(r"^(?P<name>\*{0,2}[A-Za-z_]\w*) : (?P<type>\S.*)$")
STARRED = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def sections(doc: str) -> dict[str, list[str]]:
    """Section title -> its lines, for every title underlined by dashes of its own length."""
    lines = doc.splitlines()
    found: dict[str, list[str]] = {}
    current = None
    index = 0
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.strip() and not line.startswith(" ") and following == "-" * len(line):
            current = line
            assert current not in found, f"section {current!r} appears twice"
            found[current] = []
            index += 2
            continue
        if current is not None:
            found[current].append(line)
        index += 1
    return found


def entries(lines: list[str]) -> list[tuple[str, list[str]]]:
    """(unindented head line, its indented description lines) for each entry of a section."""
    items: list[tuple[str, list[str]]] = []
    for line in lines:
        if not line.strip():
            continue
        if line.startswith(" "):
            assert items, f"description before any entry: {line!r}"
            items[-1][1].append(line.strip())
        else:
            items.append((line, []))
    return items


def parameter_entries(doc: str) -> dict[str, str]:
    """Parameters section: name (stars kept) -> type, asserting each entry is `name : type` + text."""
    documented = {}
    for head, description in entries(sections(doc)["Parameters"]):
        match = ENTRY.match(head)
        assert match, f"a Parameters entry is `name : type`, not {head!r}"
        assert description, f"parameter {match['name']} has no description"
        assert match["name"] not in documented, f"parameter {match['name']} documented twice"
        documented[match["name"]] = match["type"]
    return documented


def docstring(name: str) -> str:
    doc = inspect.getdoc(getattr(ketabridge, name))
    assert doc, f"ketabridge.{name} has no docstring"
    return doc


def test_the_documented_functions_are_public_functions():
    assert DOCUMENTED <= set(FUNCTIONS)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_sections_are_numpydoc(name):
    found = sections(docstring(name))
    assert {"Parameters", "Returns"} <= set(found), f"ketabridge.{name} lacks {set(ORDER[:2]) - set(found)}"
    known = [title for title in found if title in ORDER]
    assert known == sorted(known, key=ORDER.index), f"sections of ketabridge.{name} out of order: {known}"
    summary = docstring(name).split("\n\n", 1)[0]
    assert "----" not in summary, "the summary comes before the sections"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_parameters_are_exactly_the_signature(name):
    signature = inspect.signature(getattr(ketabridge, name))
    documented = parameter_entries(docstring(name))
    plain = [key for key in documented if not key.startswith("*")]
    expected = [p.name for p in signature.parameters.values() if p.kind not in STARRED]
    assert plain == expected, f"ketabridge.{name}: documented {plain}, signature {expected}"
    starred = {p.name: p for p in signature.parameters.values() if p.kind in STARRED}
    for key in documented:
        if key.startswith("*"):
            assert key.lstrip("*") in starred, f"ketabridge.{name} documents {key}, which it does not take"
    section = "\n".join(sections(docstring(name))["Parameters"])
    for bag in starred:  # **kwargs-style: named in the section
        assert re.search(rf"\b{bag}\b", section), f"ketabridge.{name}'s Parameters never mention **{bag}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_documented_defaults_are_the_code_defaults(name):
    documented = parameter_entries(docstring(name))
    for parameter in inspect.signature(getattr(ketabridge, name)).parameters.values():
        if parameter.kind in STARRED or parameter.default is inspect.Parameter.empty:
            continue
        kind = documented[parameter.name]
        if parameter.default is None:
            assert kind.endswith(", optional") or "default None" in kind, (
                f"ketabridge.{name}: {parameter.name} defaults to None: say `, optional`, not {kind!r}"
            )
        else:
            shown = repr(parameter.default).replace("'", '"')
            assert kind.endswith(f"default {shown}"), (
                f"ketabridge.{name}: {parameter.name} defaults to {shown}, documented as {kind!r}"
            )


@pytest.mark.parametrize("name", FUNCTIONS)
def test_returns_names_a_type_and_describes_it(name):
    returned = entries(sections(docstring(name))["Returns"])
    assert returned, f"ketabridge.{name}'s Returns section is empty"
    for head, description in returned:
        assert description, f"ketabridge.{name} returns {head!r} without saying what it holds"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_raises_names_ketabridge_exceptions(name):
    raised = entries(sections(docstring(name)).get("Raises", []))
    for head, description in raised:
        error = getattr(ketabridge, head, None)
        assert isinstance(error, type) and issubclass(error, Exception), (
            f"ketabridge.{name} raises {head!r}, which is not an exception ketabridge exports"
        )
        assert description, f"ketabridge.{name} raises {head} without saying when"
