"""tfdis: style and content disentanglement in conditional VAEs, measured.

Install with `pip install -e .[test]` (see README.md).
"""
import setuptools

setuptools.setup(
    name="tfdis",
    version="0.1.0",
    description=("Reproducible, measured experiments on style/content disentanglement in "
                 "conditional VAEs (Shu, Zhao & Kochenderfer)."),
    packages=setuptools.find_packages(include=["tfdis", "tfdis.*", "kernels", "kernels.*",
                                               "binaries", "binaries.*", "benchmarks", "benchmarks.*"]),
    package_data={"tfdis": ["data/bundled/mnist/*"]},
    include_package_data=True,
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
    extras_require={"test": ["pytest>=8"]},
)
