"""The options contract (docs/options.md): every metric and generator option is declared with a type; unknown
keys and values of the wrong type are one line naming the valid keys, the same from the CLI and the Python API."""
import math

import pytest

import evalkit
from evalkit.errors import EvalkitError
from evalkit.generators import GeneratorContext, take_options
from evalkit.metrics import REGISTRY, build, metric_class
from evalkit.options import AS_GIVEN, Spec, check_options, coerce, spec_from_defaults
from evalkit.scoring import ScoreConfig, check_config
from test_cli_score import assert_one_line_error, dirs, run_cli  # noqa: F401  (dirs is a fixture)


# --- the one coercion function --------------------------------------------------------------------------------
@pytest.mark.parametrize("value, spec, want", [
    ("10", Spec(int), 10), (10, Spec(int), 10), ("0.25", Spec(float), 0.25), (3, Spec(float), 3.0),
    ("1e-3", Spec(float), 1e-3), ("true", Spec(bool), True), ("0", Spec(bool), False), ("off", Spec(bool), False),
    (True, Spec(bool), True), ("vgg", Spec(str), "vgg"), ("none", Spec(float, nullable=True), None),
    (None, Spec(str, nullable=True), None), ("7", Spec(int, minimum=0), 7), ("cv2", Spec(str, choices=("cv2",)), "cv2"),
])
def test_coerce_to_declared_type(value, spec, want):
    got = coerce(value, spec)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("value, spec", [
    ("abc", Spec(int)), ("1.5", Spec(int)), (True, Spec(int)), ("x", Spec(float)), (False, Spec(float)),
    ("2", Spec(bool)), ("maybe", Spec(bool)), (3, Spec(str)), ("-1", Spec(int, minimum=0)),
    ("nan", Spec(float, minimum=0)), (None, Spec(int)), ("none", Spec(int)), ("gpu", Spec(str, choices=("cv2",))),
])
def test_coerce_refuses(value, spec):
    with pytest.raises(ValueError, match="expected"):
        coerce(value, spec)


def test_type_of_a_setting_comes_from_its_defaults():
    assert spec_from_defaults([1, 2]) == Spec(int)
    assert spec_from_defaults([1, 0.5]) == Spec(float)  # int and float defaults: a number
    assert spec_from_defaults([None, 0.1]) == Spec(float, nullable=True)
    assert spec_from_defaults([None]) == Spec(str, nullable=True)  # nothing to tell: text (a path, a name)
    assert spec_from_defaults([None], int) == Spec(int, nullable=True)  # declared
    assert spec_from_defaults([3], Spec(int, minimum=1)) == Spec(int, minimum=1)
    assert spec_from_defaults([("rgb",)]) == Spec(AS_GIVEN)  # no converter for a tuple: its consumer checks it
    assert coerce(("rgb", "depth"), Spec(AS_GIVEN)) == ("rgb", "depth")


# --- metrics -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_metric_declares_typed_settings(name):
    """Each preset's defaults satisfy the declared types (so a declaration never contradicts a preset) and
    the coercion is idempotent on them: a metric built from its own settings as CLI text has the same settings."""
    cls = metric_class(name)
    specs = cls.setting_specs()
    for preset, settings in cls.presets.items():
        for key, value in settings.items():
            assert coerce(value, specs[key]) == value or (isinstance(value, float) and math.isnan(value)), (preset, key)
            text = "none" if value is None else str(value)
            assert coerce(text, specs[key]) == value, (preset, key, text)


@pytest.mark.parametrize("name, key", [("fvd", "bootstap"), ("lpips", "nett"), ("ssim", "window"),
                                       ("av_align", "min_peaks"), ("beat_align", "sigma")])
def test_metric_refuses_unknown_key_naming_valid_keys(name, key):
    with pytest.raises(EvalkitError) as err:
        build(name, **{key: "1"})
    message = str(err.value)
    assert f"no option '{key}'" in message and "\n" not in message
    for valid in metric_class(name).setting_specs():
        assert valid in message


def test_runtime_options_are_declared_not_settings():
    """Constructor keywords that are not preset settings are declared and coerced, and stay out of settings."""
    m = build("av_align", workers="3", executor="threads", flow="cv2")
    assert (m.workers, m.executor, m.flow) == (3, "threads", "cv2") and "workers" not in m.settings
    with pytest.raises(EvalkitError, match="flow='gpu'.*valid keys:.*workers"):
        build("av_align", flow="gpu")
    m = build("beat_align", pose_min_pose_detection_confidence="0.6")
    assert m.settings["pose_settings"] == {"min_pose_detection_confidence": 0.6}
    with pytest.raises(EvalkitError, match="pose backend 'blazepose' has no option 'nosuch'.*variant"):
        build("beat_align", pose_nosuch="1")
    with pytest.raises(EvalkitError, match="valid keys:.*weights"):
        build("lpips", weight="/x.pth")


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", -3])
def test_fvd_bootstrap_value_refused(value):
    with pytest.raises(EvalkitError, match=r"fvd.*bootstrap=.*expected an integer ≥ 0"):
        build("fvd", bootstrap=value)


def test_cli_text_and_python_values_give_the_same_settings():
    assert build("fvd", bootstrap="7", cache="false").settings == build("fvd", bootstrap=7, cache=False).settings
    assert build("ssim", data_range="1").settings["data_range"] == 1.0  # declared float, not int


def test_subclass_that_leaks_a_runtime_option_is_a_programming_error():
    from evalkit.metrics.l1 import L1

    class Leaky(L1):
        runtime_options = {"threads": Spec(int)}

    with pytest.raises(TypeError, match="does not consume threads"):
        Leaky(threads=2)


# --- the run's settings: the same checks for the CLI and the API -------------------------------------------
@pytest.mark.parametrize("cfg, needle", [
    (ScoreConfig(preset="DISCO"), "write --preset disco"),
    (ScoreConfig(preset="foo"), "no requested metric has preset 'foo'"),
    (ScoreConfig(metrics=("ssim",), preset="bailando"), "no requested metric has preset 'bailando'"),
    (ScoreConfig(metric_options={"nosuch": {"key": "1"}}), "metric 'nosuch'"),
    (ScoreConfig(metric_options={"fvd": {"bootstrap": "10"}}), "metric 'fvd', which is not among"),
    (ScoreConfig(metric_options={"lpips": {"preset": "foo"}}), "metric 'lpips' has no preset 'foo'"),
    (ScoreConfig(fps=-5.0), "bad --fps -5"),
    (ScoreConfig(fps=float("nan")), "bad --fps"),
    (ScoreConfig(jobs=0), "bad --jobs 0"),
    (ScoreConfig(length="pad"), "unknown --length 'pad'"),
    (ScoreConfig(device="tpu"), "unknown --device 'tpu'"),
])
def test_check_config_refuses(cfg, needle):
    with pytest.raises(EvalkitError, match=needle.replace("(", r"\(")):
        check_config(cfg)


def test_check_config_accepts_defaults_and_coerces():
    cfg = check_config(ScoreConfig(metrics=("fvd", "beat_align"), preset="clean",
                                   metric_options={"fvd": {"bootstrap": "5", "preset": "jh"}}))
    assert cfg.metric_options == {"fvd": {"bootstrap": 5, "preset": "jh"}}
    check_config(ScoreConfig(metrics=("beat_align",), preset="fact"))  # a preset one requested metric has


def test_cuda_without_gpu_is_one_line(dirs):  # noqa: F811
    import torch

    if torch.cuda.is_available():
        pytest.skip("this host has a GPU")
    with pytest.raises(EvalkitError, match="torch sees no CUDA GPU"):
        check_config(ScoreConfig(device="cuda"))
    pred, gt = dirs
    code, _, err = run_cli("score", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr", "--device", "cuda:1")
    assert_one_line_error(code, err, "--device cuda:1: torch sees no CUDA GPU", "use --device cpu")


def test_python_api_validates_as_the_cli(dirs):  # noqa: F811
    pred, gt = dirs
    with pytest.raises(EvalkitError, match="no option 'nett'.*valid keys: input_range, net, spatial"):
        evalkit.score(pred, gt, metrics=["lpips"], metric_options={"lpips": {"nett": "vgg"}})
    with pytest.raises(EvalkitError, match="no keyword 'metric_option'"):
        evalkit.score(pred, gt, metrics=["psnr"], metric_option={})
    df = evalkit.score(pred, gt, metrics="psnr,l1")  # text as on the command line
    assert set(df["metric"]) == {"psnr", "l1"}


@pytest.mark.parametrize("args, needles", [
    (["--metrics", "fvd", "--opt", "fvd.bootstap=10"], ["no option 'bootstap'", "bootstrap", "batch_size"]),
    (["--metrics", "lpips", "--opt", "lpips.nett=vgg"], ["no option 'nett'", "valid keys: input_range, net"]),
    (["--metrics", "fvd", "--opt", "fvd.bootstrap=-1"], ["bootstrap='-1'", "integer ≥ 0"]),
    (["--metrics", "fvd", "--opt", "fvd.bootstrap=abc"], ["bootstrap='abc'"]),
    (["--metrics", "psnr", "--opt", "nosuch.key=1"], ["metric 'nosuch'"]),
    (["--metrics", "psnr", "--preset", "DISCO"], ["preset 'DISCO'", "--preset disco"]),
    (["--metrics", "psnr", "--fps", "-5"], ["bad --fps -5"]),
    (["--metrics", "psnr", "--device", "tpu"], ["unknown --device 'tpu'"]),
])
def test_cli_refuses_in_one_line(dirs, args, needles):  # noqa: F811
    pred, gt = dirs
    code, _, err = run_cli("score", "--pred", str(pred), "--gt", str(gt), *args)
    assert_one_line_error(code, err, *needles)


# --- generators --------------------------------------------------------------------------------------------
def test_generator_options_coerced_to_declared_types():
    defaults = {"pose_backend": "blazepose", "steps": None, "scale": 1.0, "flag": False}
    ctx = GeneratorContext(options={"steps": "12", "scale": "2", "flag": "1"})
    opts = take_options(ctx, "toy", defaults, types={"steps": int})
    assert opts == {"pose_backend": "blazepose", "steps": 12, "scale": 2.0, "flag": True}
    assert take_options(GeneratorContext(options={"steps": 12}), "toy", defaults, types={"steps": int})["steps"] == 12


@pytest.mark.parametrize("options, needle", [
    ({"stpes": "3"}, "generator 'toy' has no option 'stpes' — valid keys: pose_backend, steps"),
    ({"steps": "three"}, "bad value steps='three', expected an integer or none"),
])
def test_generator_refuses(options, needle):
    with pytest.raises(EvalkitError, match=needle):
        take_options(GeneratorContext(options=options), "toy", {"pose_backend": "blazepose", "steps": None},
                     types={"steps": int})


def test_registered_generator_refuses_unknown_option():
    from evalkit.generators import make_generator

    with pytest.raises(EvalkitError, match="generator 'beat-procedural' has no option 'pose' — valid keys: pose_backend"):
        make_generator("beat-procedural", GeneratorContext(options={"pose": "dwpose"}))


def test_cli_run_model_refuses_unknown_generator_option(tmp_path):
    code, _, err = run_cli("run-model", "static", "--opt", "colour=red", "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, "generator 'static' has no option 'colour'", "valid keys: none")


def test_check_options_lists_prefixed_families():
    with pytest.raises(EvalkitError, match=r"valid keys: a, pose_\*"):
        check_options("metric 'x'", {"b": 1}, {"a": Spec(int)}, {"pose_": "pose"})
