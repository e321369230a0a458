"""The C++ library without Python: its ctest suite, and examples/embed built against an
installed kiln through find_package(kiln), as a C++ developer would use it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.skipif(not (ROOT / "CMakeLists.txt").exists(), reason="needs kiln's source tree"),
    pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake (pip install '.[test]')"),
]


def run(*cmd, cwd=None) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def generator() -> list[str]:
    return ["-G", "Ninja"] if shutil.which("ninja") else []


@pytest.fixture(scope="module")
def cpp_build(tmp_path_factory):
    """kiln's C++ library and tests, built and installed into a private prefix."""
    tmp = tmp_path_factory.mktemp("kiln-cpp")
    build, prefix = tmp / "build", tmp / "prefix"
    run("cmake", "-S", ROOT, "-B", build, *generator(), "-DCMAKE_BUILD_TYPE=Release",
        "-DKILN_BUILD_TESTS=ON", "-DKILN_PYTHON=OFF", f"-DCMAKE_INSTALL_PREFIX={prefix}")
    run("cmake", "--build", build, "--parallel")
    run("cmake", "--install", build)
    return build, prefix


def test_ctest_suite_passes(cpp_build):
    build, _ = cpp_build
    out = run("ctest", "--test-dir", build, "--output-on-failure")
    assert "100% tests passed" in out


def test_installed_package_has_headers_library_and_config(cpp_build):
    _, prefix = cpp_build
    assert (prefix / "include" / "kiln" / "kiln.hpp").exists()
    assert list(prefix.glob("lib*/cmake/kiln/kilnConfig.cmake"))
    assert list(prefix.glob("lib*/libkiln.a"))


def test_embed_example_builds_and_runs(cpp_build, tmp_path):
    _, prefix = cpp_build
    build = tmp_path / "embed-build"
    run("cmake", "-S", ROOT / "examples" / "embed", "-B", build, *generator(),
        "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_PREFIX_PATH={prefix}")
    run("cmake", "--build", build)
    exe = build / "kiln_embed"
    out = run(exe)
    assert "all kernels agree" in out, out


def test_every_parallel_region_goes_through_kilns_helper():
    # detail::parallel (cpp/src/cpu/parallel.hpp) carries exceptions out of the region, runs
    # every share whatever OpenMP grants, and survives fork(): a bare OpenMP region would not.
    regions = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "cpp" / "src").rglob("*.[ch]pp"))
               for n, line in enumerate(path.read_text().splitlines(), 1)
               if line.lstrip().startswith("#pragma omp") and path.name != "threads.cpp"]
    assert not regions, regions
