"""Build hook: compiles the C kernels in kernels/ through cffi (see bindings/build_cffi.py).

cffi_modules cannot be declared in pyproject.toml, hence this file. If the C compiler is
missing or the build fails, the package is still installed and runs on its Numba kernels.
"""
from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """Do not fail the install when the optional C extension cannot be compiled."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # compiler missing, headers missing, ...
            print(f"fastmetrics: C kernels not built ({exc}); the Numba kernels will be used")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            print(f"fastmetrics: C kernels not built ({exc}); the Numba kernels will be used")


setup(
    cffi_modules=["bindings/build_cffi.py:ffibuilder"],
    cmdclass={"build_ext": OptionalBuildExt},
)
