"""The derivation settings (--derive, --draws, --draw-epoch) and --data-root mean what they
say: each applies, or is refused in one line, or a warning says what was done instead."""

import pytest

from zodarts.cli import main
from zodarts.config import SearchConfig, load_config, make_search_config
from zodarts.errors import ConfigError, DataError, SettingWarning, ZodartsWarning


def one_line_error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("zodarts")]
    assert len(lines) == 1, lines
    return lines[0]


def test_draws_without_draws_to_make_are_refused_and_a_presets_are_dropped():
    with pytest.raises(ConfigError, match=r"--draws 3 applies to drawn architectures"):
        make_search_config("tiny", derive="argmax", draws=3)
    with pytest.raises(ConfigError, match=r"--draw-epoch 1 applies"):
        make_search_config("tiny", draw_epoch=1)
    config = make_search_config("paper", derive="argmax")
    assert (config.draws, config.draw_epoch) == (1, None)   # config.yaml says what happens


def test_a_draw_epoch_the_search_never_reaches_is_refused_or_said():
    with pytest.raises(ConfigError, match=r"--draw-epoch 999 is beyond the search's 2 epochs"):
        make_search_config("tiny", derive="sample", draw_epoch=999)
    with pytest.warns(SettingWarning, match=r"the paper preset draws from epoch 40 .* 10 "
                                            r"epochs: drawing from its last epoch"):
        config = make_search_config("paper", epochs=10)
    assert config.draw_epoch is None
    assert make_search_config("paper", epochs=45).draw_epoch == 39     # still reached


def test_a_search_that_stopped_early_says_which_epoch_it_drew_from(tmp_path):
    from zodarts.search.derive import _record
    from zodarts.rundir import RunPaths
    from zodarts.utils.io import write_jsonl

    write_jsonl(tmp_path / "search/alphas.jsonl", [{"epoch": e} for e in range(3)])
    with pytest.warns(SettingWarning, match=r"stopped at epoch 3, before its draw epoch 6"):
        assert _record(RunPaths(tmp_path), 5)["epoch"] == 2


def test_a_data_root_that_does_not_exist_is_refused_and_a_fallback_is_said(tmp_path,
                                                                          monkeypatch):
    from zodarts.data.dataset import _locate

    with pytest.raises(ConfigError, match=r"the data root .*nowhere \(--data-root\) is not an "
                                          r"existing folder"):
        make_search_config("tiny", dataset="breastmnist", data_root=str(tmp_path / "nowhere"))
    env = tmp_path / "env"
    env.mkdir()
    (env / "breastmnist.npz").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("MEDMNIST_ROOT", str(env))
    with pytest.raises(DataError, match="not an existing folder"):
        _locate("breastmnist", tmp_path / "nowhere", 28)
    with pytest.warns(ZodartsWarning, match=r"breastmnist.npz is not in --data-root .*empty: "
                                            r"using .*env/breastmnist.npz \(\$MEDMNIST_ROOT\)"):
        assert _locate("breastmnist", tmp_path / "empty", 28) == env / "breastmnist.npz"


def test_the_advice_to_derive_by_argmax_works_on_the_folder_with_resume(tmp_path, capsys,
                                                                        monkeypatch):
    """A draw that cannot meet the band advises --derive argmax; --resume refused it as a
    contradicting flag. Now the resumed search derives by argmax, without searching again."""
    import zodarts.search.derive as derive

    def no_draw(*args, **kwargs):
        raise ConfigError("1,000 draws gave no connected genotype: derive by argmax instead")

    out = tmp_path / "run"
    monkeypatch.setattr(derive, "draw_genotype", no_draw)
    assert main(["search", "--preset", "tiny", "--derive", "sample", "--draws", "2", "--out",
                 str(out), "--quiet"]) == 1
    log = (out / "search/log.jsonl").read_text()
    assert main(["search", "--out", str(out), "--resume", "--derive", "argmax", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "now derived with derive argmax, draws 1, draw_epoch None (was derive sample, " \
           "draws 2" in err
    config = load_config(SearchConfig, out / "config.yaml")
    assert (config.derive, config.draws) == ("argmax", 1)
    assert (out / "search/log.jsonl").read_text() == log and not (out / "draws").exists()


def test_a_derivation_change_that_would_drop_a_trained_draw_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", "--preset", "tiny", "--epochs", "1", "--derive", "sample", "--draws",
                 "2", "--out", str(out), "--quiet"]) == 0
    (out / "draws/d1/train").mkdir()
    assert main(["search", "--out", str(out), "--resume", "--draws", "1"]) == 1
    assert "draws/d1 is trained already, and --draws 1 would drop it" in one_line_error(capsys)
    assert load_config(SearchConfig, out / "config.yaml").draws == 2
