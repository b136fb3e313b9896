"""Build the Cython hot path: one Extension per dmabot/**/*.pyx, named by its path.

Each .pyx sits beside the Python of its domain (dmabot/core, dmabot/io, dmabot/venues/...), so
`cimport dmabot.core.types` resolves from the project root. DMABOT_DEBUG=1 rebuilds with
bounds, wraparound and initialisation checks on, for debugging.
"""
import glob
import os

from Cython.Build import cythonize
from Cython.Compiler import Options
from setuptools import Extension, setup

DEBUG = os.environ.get("DMABOT_DEBUG") == "1"
# Cython warnings are errors: an unused variable or unreachable line is a bug here.
Options.warning_errors = True

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
    "warn.unused": True,
    "warn.unused_arg": False,
    "warn.unreachable": True,
}


def extensions():
    exts = []
    for pyx in sorted(glob.glob("dmabot/**/*.pyx", recursive=True)):
        name = os.path.splitext(pyx)[0].replace(os.sep, ".")
        exts.append(
            Extension(
                name,
                [pyx],
                extra_compile_args=["-O3"] if not DEBUG else ["-O0", "-g"],
                libraries=["m"] if os.name == "posix" else [],
            )
        )
    return cythonize(exts, include_path=["."], compiler_directives=DIRECTIVES)


setup(ext_modules=extensions())
