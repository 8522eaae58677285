/*
 * dlnote.h: record a library opened with dlopen(3) in the ELF note
 * section .note.dlopen, in the format systemd defined for its optional
 * libraries (https://systemd.io/ELF_DLOPEN_METADATA/): owner "FDO", type
 * 0x407c0c0a, a NUL-terminated JSON array as descriptor. A dlopen()ed
 * library is not in DT_NEEDED, so without the note packaging tools
 * (dpkg-shlibdeps, rpm's dependency generators, systemd-dissect) would
 * not know that the binary may need it; readelf -n shows it.
 */
#ifndef MXSEND_DLNOTE_H
#define MXSEND_DLNOTE_H

#include <stdint.h>

#define DLNOTE_OWNER	"FDO"
#define DLNOTE_TYPE	UINT32_C(0x407c0c0a)

/*
 * ELF notes are 4-byte aligned (explicitly: GCC would align a static
 * object this large to 32, and readelf would reject the note), name and
 * descriptor each padded to 4; "used" keeps the object, which nothing
 * references, in the binary.
 */
#define DLNOTE(var, json)						\
	__attribute__((used, section(".note.dlopen"), aligned(4)))	\
	static const struct {						\
		uint32_t namesz, descsz, type;				\
		char	 name[(sizeof(DLNOTE_OWNER) + 3) & ~3];	\
		char	 desc[(sizeof(json) + 3) & ~3];		\
	} var = {							\
		sizeof(DLNOTE_OWNER), sizeof(json), DLNOTE_TYPE,	\
		DLNOTE_OWNER, json					\
	}

#endif
