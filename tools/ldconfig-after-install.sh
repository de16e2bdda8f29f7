#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make install / make uninstall, last step: make the dynamic linker find (or forget)
# liblayercode.so.0.
#   tools/ldconfig-after-install.sh DESTDIR LIBDIR
# - DESTDIR set (a staged install, e.g. for a package): nothing to do here; the package's
#   own post-install step runs ldconfig on the target.
# - LIBDIR in the linker's search path (/usr/local/lib, /usr/lib, ...): as root, runs
#   ldconfig; otherwise prints the command to run.
# - any other LIBDIR: programs need an rpath (cc ... -Wl,-rpath,LIBDIR) or LD_LIBRARY_PATH;
#   prints how.
set -eu
destdir=$1
libdir=$2
if [ -n "$destdir" ]; then
    echo "liblayercode: staged in DESTDIR=$destdir; run ldconfig on the target system once installed there"
    exit 0
fi
real=$(readlink -f "$libdir" 2>/dev/null || echo "$libdir")
searched=no
for dir in $(ldconfig -N -v 2>/dev/null | sed -n 's/^\(\/[^:]*\):.*/\1/p'); do
    if [ "$(readlink -f "$dir" 2>/dev/null || echo "$dir")" = "$real" ]; then
        searched=yes
        break
    fi
done
if [ "$searched" = yes ]; then
    if [ "$(id -u)" = 0 ]; then
        ldconfig
        echo "liblayercode: ran ldconfig ($libdir is in the dynamic linker's search path)"
    else
        echo "liblayercode: now run 'sudo ldconfig' so that programs find liblayercode.so.0 in $libdir"
    fi
else
    echo "liblayercode: $libdir is not in the dynamic linker's search path: build programs with"
    echo "  cc app.c \$(pkg-config --cflags --libs layercode) -Wl,-rpath,$libdir"
    echo "or run them with LD_LIBRARY_PATH=$libdir (or add $libdir to /etc/ld.so.conf.d/ and run ldconfig)"
fi
