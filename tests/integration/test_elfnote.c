/*
 * test_elfnote.c: the mxsend binary as packagers see it (SPEC §9). GnuTLS,
 * libgnutls-dane and libidn2 are opened with dlopen, so they must not be
 * in DT_NEEDED, and each must be named in a .note.dlopen entry in
 * systemd's format
 * (owner "FDO", type 0x407c0c0a, a JSON array) that readelf -n accepts:
 * 4-byte aligned notes in a section of type SHT_NOTE.
 */
#include <criterion/criterion.h>

#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

#define NOTE_TYPE	0x407c0c0aU

static unsigned char	*img;
static size_t		 imglen;

static void
load(void)
{
	const Elf64_Ehdr *eh;

	img = (unsigned char *)slurp(mxsend_path(), &imglen);
	cr_assert(img != NULL, "cannot read %s", mxsend_path());
	eh = (const Elf64_Ehdr *)img;
	if (imglen < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64)
		cr_skip_test("%s is not a 64-bit ELF file", mxsend_path());
	cr_assert(eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) <=
	    imglen);
}

static const Elf64_Shdr *
section(const char *name)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(img + eh->e_shoff);
	const char *names = (const char *)img + sh[eh->e_shstrndx].sh_offset;
	int i;

	for (i = 0; i < eh->e_shnum; i++)
		if (strcmp(names + sh[i].sh_name, name) == 0)
			return &sh[i];
	return NULL;
}

static void
fini(void)
{
	free(img);
}

TestSuite(elfnote, .init = load, .fini = fini);

Test(elfnote, gnutls_and_libidn2_are_not_linked)
{
	const Elf64_Shdr *dyn = section(".dynamic"), *str = section(".dynstr");
	const Elf64_Dyn *d;
	const char *name;
	int nlibc = 0;

	cr_assert(dyn != NULL && str != NULL, "no dynamic section");
	for (d = (const Elf64_Dyn *)(img + dyn->sh_offset);
	    (const unsigned char *)d < img + dyn->sh_offset + dyn->sh_size &&
	    d->d_tag != DT_NULL; d++) {
		if (d->d_tag != DT_NEEDED)
			continue;
		name = (const char *)img + str->sh_offset + d->d_un.d_val;
		cr_expect(strstr(name, "gnutls") == NULL &&
		    strstr(name, "idn2") == NULL, "%s is linked", name);
		nlibc += strncmp(name, "libc.so", 7) == 0;
	}
	cr_assert_eq(nlibc, 1, "the walk over DT_NEEDED found no libc");
}

Test(elfnote, dlopen_notes_name_the_libraries)
{
	const Elf64_Shdr *sh = section(".note.dlopen");
	const unsigned char *p, *end;
	int gnutls = 0, idn2 = 0, dane = 0;

	cr_assert(sh != NULL, "no .note.dlopen section");
	cr_assert_eq(sh->sh_type, SHT_NOTE);
	cr_assert(sh->sh_addralign <= 4, "aligned to %lu: readelf rejects it",
	    (unsigned long)sh->sh_addralign);
	p = img + sh->sh_offset;
	end = p + sh->sh_size;
	while (p + sizeof(Elf64_Nhdr) <= end) {
		const Elf64_Nhdr *n = (const Elf64_Nhdr *)p;
		const char *name = (const char *)(n + 1);
		const char *desc = name + ((n->n_namesz + 3) & ~3U);

		cr_assert(desc + n->n_descsz <= (const char *)end);
		cr_assert_eq(n->n_namesz, 4);
		cr_assert_str_eq(name, "FDO");
		cr_assert_eq(n->n_type, NOTE_TYPE);
		cr_assert_eq(desc[n->n_descsz - 1], '\0');
		cr_assert(desc[0] == '[' && desc[strlen(desc) - 1] == ']',
		    "not a JSON array: %s", desc);
		/* DANE serves only mx_tls dane: suggested, not recommended. */
		if (strstr(desc, "\"soname\":[\"libgnutls-dane.so.0\"]")) {
			cr_assert(strstr(desc, "\"priority\":\"suggested\""),
			    "%s", desc);
			dane++;
		} else
			cr_assert(strstr(desc,
			    "\"priority\":\"recommended\""), "%s", desc);
		gnutls += strstr(desc, "\"soname\":[\"libgnutls.so.30\"]") !=
		    NULL;
		idn2 += strstr(desc, "\"soname\":[\"libidn2.so.0\"]") != NULL;
		p = (const unsigned char *)desc + ((n->n_descsz + 3) & ~3U);
	}
	cr_assert_eq(gnutls, 1, "no note for libgnutls.so.30");
	cr_assert_eq(idn2, 1, "no note for libidn2.so.0");
	cr_assert_eq(dane, 1, "no note for libgnutls-dane.so.0");
}
