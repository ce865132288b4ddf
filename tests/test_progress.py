"""Progress bars (tqdm): shown when asked or on a terminal, silent in logs and with --quiet / progress=False."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from click.testing import CliRunner
from lane import BCG_CSV

import ketabridge
from ketabridge.cli import main
from ketabridge.progress_bar import progress_bar, wanted


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_is_wanted_on_a_terminal_only_unless_asked():
    assert wanted(None, Terminal()) and not wanted(None, io.StringIO())
    assert wanted(True, io.StringIO()) and not wanted(False, Terminal())


def test_the_bar_counts_to_its_total_with_rate_and_time():
    stream = Terminal()
    bar = progress_bar(4, None, "batch", "analyses", stream)
    bar.update(4)
    bar.close()
    last = stream.getvalue().split("\r")[-1]
    assert last.startswith("batch: 100%|") and "4/4" in last and "analyses/s]" in last


@pytest.fixture(scope="module")
def long_table() -> pd.DataFrame:
    bcg = pd.read_csv(BCG_CSV)
    return ketabridge.escalc("RR", bcg, ai="tpos", bi="tneg", ci="cpos", di="cneg")


@pytest.mark.requires_r
def test_batch_shows_a_bar_when_asked_and_none_when_not(long_table, capfd):
    ketabridge.batch(long_table, by="alloc", workers=0, progress=True)
    shown = capfd.readouterr().err
    assert "batch: 100%|" in shown and "3/3" in shown
    ketabridge.batch(long_table, by="alloc", workers=0)  # default: stderr is no terminal under pytest
    ketabridge.batch(long_table, by="alloc", workers=0, progress=False)
    assert capfd.readouterr().err == ""


@pytest.mark.requires_r
def test_the_fast_engines_verification_has_its_own_bar(long_table, capfd):
    ketabridge.batch(long_table, by="alloc", workers=0, progress=True, engine="fast", verify="all")
    shown = capfd.readouterr().err
    assert "batch: 100%|" in shown and "verifying on metafor: 100%|" in shown


@pytest.mark.requires_r
def test_quiet_turns_the_batch_bar_off(tmp_path):
    result = CliRunner().invoke(
        main,
        ["batch", str(BCG_CSV), "--by", "alloc", "--measure", "RR", "--ai", "tpos", "--bi", "tneg", "--ci", "cpos",
         "--di", "cneg", "--workers", "0", "--progress", "--quiet", "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "%|" not in result.stderr and "3 analyses: 3 ok" in result.stderr


@pytest.mark.requires_r
def test_crosscheck_shows_a_bar_when_asked(capfd):
    result = ketabridge.crosscheck("statsmodels", "reference", progress=True)
    assert "crosscheck statsmodels: 100%|" in capfd.readouterr().err
    assert "statsmodels against metafor: " in result._repr_html_()
