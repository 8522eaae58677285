#!/bin/sh
# Install what building and testing mxsend needs on Debian 12 (bookworm).
# Idempotent; run as root (or through sudo).
set -eu
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
	build-essential autoconf automake pkg-config \
	libgnutls28-dev libidn2-dev libbsd-dev libcriterion-dev \
	gnutls-bin iproute2 libnss-wrapper swaks >/dev/null
