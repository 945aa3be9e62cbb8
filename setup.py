"""tfdis: style and content disentanglement in conditional VAEs, measured.

Install with `pip install -e .[test]` (see README.md), or as a library with `pip install .`;
`.[bench]` adds JAX for the reference benchmark.

The flagfiles in flags/ ship inside the package as tfdis/flags (with their subfolders), so an
installed tfdis reads `--flagfile=flags/...` from its own copy (tfdis.flagfiles.FLAGS_ROOT).
"""
import setuptools

# flags/ and each folder under it, as packages of tfdis.flags holding only *.cfg files.
_FLAG_PACKAGES = ["tfdis.flags"] + [
    f"tfdis.flags.{name}" for name in setuptools.find_namespace_packages(where="flags")]
# The MNIST files (tfdis.data.datasets.BUNDLED_MNIST_DIR), a folder of data only.
_MNIST_PACKAGE = "tfdis.data.bundled.mnist"

setuptools.setup(
    name="tfdis",
    version="0.1.0",
    description=("Reproducible, measured experiments on style/content disentanglement in "
                 "conditional VAEs (Shu, Zhao & Kochenderfer)."),
    packages=setuptools.find_packages(include=[
        "tfdis", "tfdis.*", "kernels", "kernels.*", "binaries", "binaries.*", "benchmarks",
        "benchmarks.*"]) + [_MNIST_PACKAGE] + _FLAG_PACKAGES,
    package_dir={"tfdis.flags": "flags"},
    package_data={_MNIST_PACKAGE: ["*"], "tfdis.reproduce": ["cost_model.json"],
                  **{p: ["*.cfg"] for p in _FLAG_PACKAGES}},
    include_package_data=True,
    # `tfdis <subcommand>` runs `python -m binaries.<subcommand>` (binaries/cli.py).
    entry_points={"console_scripts": ["tfdis=binaries.cli:main"]},
    python_requires=">=3.10,<3.14",
    install_requires=[
        # Tested: tensorflow 2.21.0, keras 3.15.1, tensorflow-probability 0.25.0,
        # tensorflow-datasets 4.9.10, absl-py 2.5.1, matplotlib 3.11.2, etils 1.15.0.
        "tensorflow>=2.18,<2.22",
        "keras>=3.6,<4",
        "tensorflow-probability[tf]>=0.25,<0.26",  # [tf] brings tf-keras, which tfp imports
        "tensorflow-datasets>=4.9.7,<4.10",
        "importlib_resources>=6",
        "etils[epath]>=1.7",
        "tensorboard>=2.18",  # tf.summary needs it; TF 2.21 no longer installs it
        "absl-py>=2.1",
        "matplotlib>=3.8",
        "numpy>=1.26",
    ],
    # tests/test_wheel.py builds the wheel offline (pip wheel --no-build-isolation): it needs
    # setuptools and wheel in the environment itself. pytest-xdist runs the suite on both cores
    # (README's test command).
    # bench: the plain JAX reference of binaries.bench --sections=reference
    # (benchmarks/reference_jax.py; tested with jax 0.10.2, optax 0.2.8).
    extras_require={"test": ["pytest>=8", "pytest-xdist>=3.5", "setuptools>=61", "wheel"],
                    "bench": ["jax>=0.4.30", "optax>=0.2.2"]},
)
