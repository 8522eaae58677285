#!/bin/sh
# fetch.sh: install the peers of the interop tests (Debian 12), as root.
#
# Clients and servers that do not take the system's MTA slot are
# installed with apt-get. Postfix, Exim and bsd-mailx (which depends on
# an MTA) would replace the system's sendmail: they are downloaded and
# unpacked below $INTEROP_ROOT (default /var/tmp/mxsend-interop/root),
# never installed, and their libraries installed with apt-get; the
# scripts run them from there with configuration directories of their
# own. Each unpacked package's version is kept in ../NAME.version.
set -eu
ROOT=${INTEROP_ROOT:-/var/tmp/mxsend-interop/root}
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

# Installed for their programs only: no daemon of theirs may start (a
# Dovecot on every address, say). Debian's policy-rc.d says so to the
# packages' scripts, for as long as the install runs.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod 755 "$policy"
	trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends \
	php-cli s-nail mutt git git-email libmailtools-perl swaks \
	python3 python3-aiosmtpd pflogsumm dovecot-core dovecot-submissiond gnutls-bin \
	util-linux \
	libicu72 libnsl2 libsasl2-2 libdb5.3 libidn12 libpcre2-8-0 \
	libgnutls-dane0 libcrypt1 liblockfile1 >/dev/null

unpacked="postfix exim4-daemon-light exim4-base bsd-mailx"
dl=$(dirname "$ROOT")/debs
$SUDO mkdir -p "$ROOT" "$dl"
# apt-get download writes as _apt where it can.
$SUDO chown _apt "$dl" 2>/dev/null || true
cd "$dl"
$SUDO apt-get download -qq $unpacked >/dev/null
for p in $unpacked; do
	deb=$(ls "${p}"_*.deb | tail -n 1)
	$SUDO dpkg-deb -x "$deb" "$ROOT"
	dpkg-deb -f "$deb" Version | $SUDO tee "$(dirname "$ROOT")/$p.version" \
	    >/dev/null
done
echo "interop peers unpacked in $ROOT: $unpacked"
