#!/bin/sh
# link-mxsend.sh: install or remove one name as a symbolic link to
# mxsend, for make install and make uninstall (SPEC §1, §2.1).
#
#	link-mxsend.sh install DIR NAME TARGET INSTALLED [REPLACE]
#	link-mxsend.sh uninstall DIR NAME TARGET INSTALLED
#
# DIR/NAME is the link (DESTDIR included), TARGET its text
# ($(sbindir)/mxsend, without DESTDIR), INSTALLED the binary as make
# installed it ($(DESTDIR)$(sbindir)/mxsend). An existing DIR/NAME that
# is not mxsend is another mail program the system relies on: install
# stops with a message naming it, unless REPLACE is "yes"; uninstall
# leaves it alone. Installing again over mxsend's own link is quiet.
set -eu

if [ $# -lt 5 ]; then
	echo "usage: $0 install|uninstall DIR NAME TARGET INSTALLED" \
	    "[REPLACE]" >&2
	exit 2
fi
action=$1 dir=$2 name=$3 target=$4 installed=$5 replace=${6:-no}
path=$dir/$name

# DIR/NAME is mxsend: our link (even dangling), or the same file.
is_mxsend() {
	if [ -L "$path" ] && [ "$(readlink "$path")" = "$target" ]; then
		return 0
	fi
	[ -e "$path" ] && [ -e "$installed" ] && [ "$path" -ef "$installed" ]
}

case $action in
install)
	if [ -e "$path" ] || [ -L "$path" ]; then
		if is_mxsend; then
			rm -f "$path"
		elif [ "$replace" = yes ]; then
			echo "$0: replacing $path with a link to mxsend"
			rm -f "$path"
		else
			echo "$0: $path exists and is not mxsend: not" \
			    "replacing it" >&2
			echo "$0: make install REPLACE_MAILX=yes replaces it" >&2
			exit 1
		fi
	fi
	mkdir -p "$dir"
	ln -s "$target" "$path"
	;;
uninstall)
	if is_mxsend; then
		rm -f "$path"
	fi
	;;
*)
	echo "$0: unknown action $action" >&2
	exit 2
	;;
esac
