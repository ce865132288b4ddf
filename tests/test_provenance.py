"""Every result knows the versions and the R call that produced it."""

from __future__ import annotations

from importlib import metadata

import pytest

import ketabridge

pytestmark = pytest.mark.requires_r


def _distributions() -> set[str]:
    return {dist.metadata["Name"] for dist in metadata.distributions()}


def test_provenance_names_versions_and_call(bcg_effects, installed):
    r_version, metafor_version = installed["r_version"], installed["metafor_version"]
    result = ketabridge.rma(bcg_effects, method="DL", test="knha", slab="author", mods=["ablat"])
    for item in (
        result,
        ketabridge.regtest(ketabridge.rma(bcg_effects)),
        ketabridge.trimfill(ketabridge.rma(bcg_effects)),
    ):
        provenance = item.provenance
        assert provenance.r_version == r_version
        assert provenance.metafor_version == metafor_version
        assert provenance.rpy2_version == metadata.version("rpy2")
        # rpy2 3.6 splits into two distributions; in 3.5 both halves are rpy2 itself.
        for part in ("rpy2-rinterface", "rpy2-robjects"):
            expected = metadata.version(part if part in _distributions() else "rpy2")
            assert getattr(provenance, part.replace("-", "_") + "_version") == expected
        assert provenance.ketabridge_version == metadata.version("ketabridge")
    assert result.provenance.r_call == (
        "rma.uni(yi = yi, vi = vi, ni = ni, slab = slab, mods = cbind(ablat), data = dat, "
        'measure = "RR", method = "DL", test = "knha", level = 95, weighted = TRUE)'
    )
    trimmed = ketabridge.trimfill(ketabridge.rma(bcg_effects), side="left", estimator="R0")
    assert trimmed.provenance.r_call.startswith("trimfill(rma.uni(")
    assert trimmed.provenance.r_call.endswith('side = "left", estimator = "R0")')


def test_provenance_serialises(bcg_effects):
    document = ketabridge.rma(bcg_effects).to_dict()["provenance"]
    assert set(document) == {
        "ketabridge_version",
        "r_version",
        "metafor_version",
        "rpy2_version",
        "rpy2_rinterface_version",
        "rpy2_robjects_version",
        "r_call",
        "r_warnings",
        "created",
        "r_packages",
    }


def test_results_are_frozen(bcg_effects):
    result = ketabridge.rma(bcg_effects)
    glance = result.glance()
    glance.loc[0, "estimate"] = 0.0  # a copy: the result itself must not change
    assert result.glance()["estimate"].iloc[0] != 0.0
    try:
        result.kind = "changed"
    except AttributeError:
        pass
    else:
        raise AssertionError("MetaResult must be frozen")
    assert not result.spec.yi.flags.writeable


def test_json_keeps_every_digit(bcg_effects):
    """Results written as JSON read back as the same doubles (cross-checks compare them exactly)."""
    import json

    result = ketabridge.rma(bcg_effects, slab="author")
    document = json.loads(json.dumps(result.to_dict()))
    for name in ("estimate", "std_error", "tau2", "i2", "pi_low"):
        assert document["glance"][name] == result.glance()[name].iloc[0]
    assert [row["cooks_distance"] for row in document["augment"]] == result.augment()["cooks_distance"].tolist()
    assert document["glance"]["df"] is None  # NaN (no df for a z test) becomes null


def test_tidy_frames_of_follow_up_analyses_carry_their_r_call(bcg_effects):
    """predict, confint, leave1out, influence, cumul: frames whose attrs hold the call, typed as in R."""
    result = ketabridge.rma(bcg_effects, slab="author")
    frames = {
        "predict": ketabridge.predict(result, transf="natural"),
        "confint": ketabridge.confint(result),
        "leave1out": ketabridge.leave1out(result),
        "influence": ketabridge.influence(result),
        "cumul": ketabridge.cumul(result, order=list(range(result.spec.k))),
    }
    for name, frame in frames.items():
        provenance = frame.attrs["ketabridge_provenance"]
        assert provenance["r_call"].startswith(f"{name}(rma.uni("), name
        assert provenance["metafor_version"] == result.provenance.metafor_version
    assert frames["predict"].attrs["ketabridge_provenance"]["r_call"].endswith("level = 95, transf = exp)")
