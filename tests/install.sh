#!/bin/sh
# install.sh BUILD SOURCE — installs the build into a scratch prefix and uses it as a C programmer
# would: a program compiled with `pkg-config --cflags --libs incept` links and runs GoogLeNet (and
# one linked statically with `pkg-config --static`), a CMake project finds it with
# find_package(incept), the shared library exports nothing but incept_* functions, the manual page
# and bash completion are in place.
set -eu
build=$1
source=$2
prefix=$build/install-test
rm -rf "$prefix"
cmake --install "$build" --prefix "$prefix" > "$build/install-test.log"
pc=$(find "$prefix" -name incept.pc | head -n 1)
[ -n "$pc" ] || { echo "install.sh: no incept.pc installed"; exit 1; }
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir incept)
cc=${CC:-cc}
# shellcheck disable=SC2046 # pkg-config's flags are words
$cc -o "$build/install-app" "$source/tests/install/app.c" $(pkg-config --cflags --libs incept) -Wl,-rpath,"$libdir"
"$build/install-app"
# the README's example program builds the same way
# shellcheck disable=SC2046
$cc -o "$build/install-example" "$source/examples/forward.c" $(pkg-config --cflags --libs incept) -Wl,-rpath,"$libdir"
"$build/install-example" "$source/models/tiny.incept" > /dev/null
# shellcheck disable=SC2046
$cc -o "$build/install-app-static" "$source/tests/install/app.c" $(pkg-config --cflags incept) \
    "$libdir/libincept.a" $(pkg-config --static --libs-only-other --libs-only-l incept | sed 's/-lincept//')
"$build/install-app-static"
exported=$(nm -D --defined-only "$libdir/libincept.so" | awk '{print $3}' | grep -v '^incept_' || true)
if [ -n "$exported" ]; then
  echo "install.sh: libincept.so exports more than incept_*:"; echo "$exported" | head -20; exit 1
fi
echo "libincept.so exports $(nm -D --defined-only "$libdir/libincept.so" | wc -l) symbols, all incept_*"
cmake -S "$source/tests/install" -B "$build/install-find-package" -DCMAKE_PREFIX_PATH="$prefix" > /dev/null
cmake --build "$build/install-find-package" > /dev/null
LD_LIBRARY_PATH=$libdir "$build/install-find-package/app"
[ -s "$prefix/share/man/man1/incept.1" ] || { echo "install.sh: no manual page"; exit 1; }
[ -s "$prefix/share/bash-completion/completions/incept" ] || { echo "install.sh: no completion"; exit 1; }
"$prefix/bin/incept" version
echo "install.sh: installed, found by pkg-config and find_package, exports only incept_*"
