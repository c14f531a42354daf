"""The one compiled module, built where a C compiler is found (docs/decisions/0006).

Everything else is in pyproject.toml. ``optional=True``: without a compiler the install
still succeeds and the zone runs the pure-Python path (openmmo.zone.fastpath says which).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "openmmo.zone._fastpath",
            ["src/openmmo/zone/_fastpath.pyx"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
