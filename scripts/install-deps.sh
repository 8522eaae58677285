#!/bin/sh
# Install what building and testing mxsend needs on Debian 12 (bookworm).
# Idempotent; run as root (or through sudo). clang and libclang-rt-14-dev
# (libFuzzer, a recommendation apt would skip here) build the fuzz targets
# (make fuzz); valgrind runs make check-valgrind; debhelper and lintian
# build and check the Debian package (make check-deb); pflogsumm reads the
# log in test_log; python3-dkim and opendkim-tools are the two DKIM
# verifiers test_dkim checks signatures with. The interop tests' peers:
# tests/interop/fetch.sh.
set -eu
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
	build-essential autoconf automake pkg-config \
	libgnutls28-dev libidn2-dev libbsd-dev libcriterion-dev \
	gnutls-bin iproute2 libnss-wrapper swaks mandoc pflogsumm \
	clang libclang-rt-14-dev valgrind debhelper lintian \
	python3-dkim opendkim-tools >/dev/null
