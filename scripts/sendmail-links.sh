#!/bin/sh
# sendmail-links.sh install|uninstall: the names sendmail, mailq and
# newaliases as links to mxsend (SPEC §1), for make install and make
# uninstall (Makefile.am passes the variables below).
#
# install: sendmail in sbindir and in sendmail_libdir (/usr/lib, empty:
# none), mailq and newaliases in bindir, each a relative link to
# sbindir/mxsend. A name that exists and is not a link to mxsend (the
# sendmail of Postfix, Exim or another MTA) is never silently replaced:
# the install stops, naming every such file, before anything changes;
# with FORCE=yes each is renamed NAME.mxsend-saved instead.
# uninstall: removes only links to mxsend (those of older versions in
# sbindir too) and renames each NAME.mxsend-saved back to NAME.
#
# "A link to mxsend" is a symbolic link whose target's last component
# is mxsend (what this script makes, whatever the prefix it was made
# for), or one that leads to the installed mxsend through other links
# (/usr/lib/sendmail -> /usr/sbin/sendmail, made by hand).
#
# Variables: DESTDIR, sbindir, bindir, sendmail_libdir, LINKS (install
# does nothing unless yes), FORCE.
set -u
action=${1:?usage: $0 install|uninstall}
: "${sbindir:?}" "${bindir:?}"
DESTDIR=${DESTDIR-}
sendmail_libdir=${sendmail_libdir-/usr/lib}
LINKS=${LINKS:-no}
FORCE=${FORCE:-no}

# The names, as "DIR NAME" lines (no DIR holds a space: make install
# would not work there either).
names() {
	echo "$sbindir sendmail"
	[ -n "$sendmail_libdir" ] && echo "$sendmail_libdir sendmail"
	echo "$bindir mailq"
	echo "$bindir newaliases"
}

# What older versions installed (mailq and newaliases in sbindir), for
# uninstall only.
old_names() {
	[ "$sbindir" = "$bindir" ] && return
	echo "$sbindir mailq"
	echo "$sbindir newaliases"
}

# relative DIR FILE: the text of a link in DIR that reaches FILE (both
# absolute): ../sbin/mxsend for /usr/lib and /usr/sbin/mxsend.
relative() {
	from=$1 up=
	until case $2/ in "$from"/*) true ;; *) false ;; esac; do
		from=${from%/*}
		up="../$up"
		[ -z "$from" ] && break
	done
	echo "$up${2#"$from"/}"
}

exists() {
	[ -e "$1" ] || [ -h "$1" ]
}

ours() {
	[ -h "$1" ] && { [ "$(basename "$(readlink "$1")")" = mxsend ] ||
	    [ "$1" -ef "$DESTDIR$sbindir/mxsend" ]; }
}

# what PATH: a few words saying what the foreign PATH is.
what() {
	if [ -h "$1" ]; then
		echo "a link to $(readlink "$1")"
	elif [ -d "$1" ]; then
		echo "a directory"
	else
		echo "a file"
	fi
}

# refuse: print why each foreign name stops the install; status 1 when
# one does.
refuse() {
	stop=0
	while read -r dir name; do
		p=$DESTDIR$dir/$name
		exists "$p" && ! ours "$p" || continue
		if [ "$FORCE" != yes ]; then
			echo "mxsend: $p exists and is not mxsend" \
			    "($(what "$p"))"
			stop=1
		elif [ -d "$p" ] && [ ! -h "$p" ]; then
			echo "mxsend: $p is a directory: not replaced"
			stop=1
		elif exists "$p.mxsend-saved"; then
			echo "mxsend: $p exists and is not mxsend, and" \
			    "$p.mxsend-saved, where it would be kept, exists"
			stop=1
		fi
	done
	return $stop
}

install_links() {
	[ "$LINKS" = yes ] || return 0
	if ! names | refuse >&2; then
		if [ "$FORCE" != yes ]; then
			echo "mxsend: not replaced. mxsend itself is" \
			    "installed; to install the names sendmail, mailq" \
			    "and newaliases as well, remove the files above," \
			    "or run make install FORCE_SENDMAIL_LINKS=yes to" \
			    "keep each as NAME.mxsend-saved (make uninstall" \
			    "puts them back)" >&2
		fi
		return 1
	fi
	names | while read -r dir name; do
		p=$DESTDIR$dir/$name
		mkdir -p "$DESTDIR$dir" || exit 1
		if ours "$p"; then
			rm -f "$p" || exit 1
		elif exists "$p"; then
			mv "$p" "$p.mxsend-saved" || exit 1
			echo "mxsend: kept $p as $p.mxsend-saved"
		fi
		ln -s "$(relative "$dir" "$sbindir/mxsend")" "$p" || exit 1
	done
}

uninstall_links() {
	{ names; old_names; } | while read -r dir name; do
		p=$DESTDIR$dir/$name
		if ours "$p"; then
			rm -f "$p" || exit 1
		fi
		exists "$p.mxsend-saved" || continue
		if exists "$p"; then
			echo "mxsend: $p is not mxsend: $p.mxsend-saved left" \
			    "as it is" >&2
		else
			mv "$p.mxsend-saved" "$p" || exit 1
			echo "mxsend: put back $p"
		fi
	done
}

case $action in
install)
	install_links
	;;
uninstall)
	uninstall_links
	;;
*)
	echo "usage: $0 install|uninstall" >&2
	exit 2
	;;
esac
