/* SPDX-License-Identifier: MIT */
/*
 * Multiboot 0.6.96 information structure (the fields used here).
 */
#include <string.h>

#include <platform.h>

#include "kernel/arch/x86_64/multiboot.h"

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
} __attribute__((packed));

struct mb_mmap {
	uint32_t size; /* of the rest of this entry */
	uint64_t base;
	uint64_t len;
	uint32_t type;
} __attribute__((packed));

struct mb_module {
	uint32_t start, end, string, reserved;
} __attribute__((packed));

#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MODS    (1u << 3)
#define MB_INFO_MMAP    (1u << 6)

static enum mem_type type_of(uint32_t mb_type)
{
	switch (mb_type) {
	case 1: return MEM_USABLE;
	case 3: return MEM_ACPI_RECLAIM;
	case 4: return MEM_ACPI_NVS;
	case 5: return MEM_BAD;
	default: return MEM_RESERVED;
	}
}

/* Add one range, reporting (and skipping) what memmap rejects. */
static void add(struct memmap *m, uint64_t base, uint64_t len,
		enum mem_type t)
{
	err_t e = memmap_add(m, base, len, t);

	if (e != E_OK)
		klog("memmap: skipped %s range %#llx+%#llx: %s",
		     mem_type_name(t), (unsigned long long)base,
		     (unsigned long long)len, err_name(e));
}

static void read_mmap(const struct mb_info *info, struct memmap *m)
{
	uint64_t pa = info->mmap_addr, end = pa + info->mmap_length;

	while (pa + sizeof(struct mb_mmap) <= end) {
		const struct mb_mmap *e = phys_to_virt(PADDR(pa));

		if (e->len != 0)
			add(m, e->base, e->len, type_of(e->type));
		pa += (uint64_t)e->size + sizeof(e->size);
	}
}

static void read_modules(const struct mb_info *info, struct memmap *m)
{
	const struct mb_module *mod = phys_to_virt(PADDR(info->mods_addr));

	add(m, info->mods_addr, info->mods_count * sizeof(*mod), MEM_MODULE);
	for (uint32_t i = 0; i < info->mods_count; i++)
		if (mod[i].end > mod[i].start)
			add(m, mod[i].start, mod[i].end - mod[i].start,
			    MEM_MODULE);
}

/*
 * Loaders put the image's path first (QEMU: "kernel.bin args", as GRUB
 * does); what follows it and its blanks is the kernel's command line.
 */
static const char *skip_image_path(const char *s)
{
	while (*s == ' ')
		s++;
	while (*s != ' ' && *s != '\0')
		s++;
	while (*s == ' ')
		s++;
	return s;
}

err_t multiboot_parse(uint32_t magic, uint64_t info_pa, uint64_t image_start,
		      uint64_t image_end, struct memmap *m, char *cmdline,
		      size_t cap)
{
	const struct mb_info *info;

	if (magic != MULTIBOOT_MAGIC)
		return E_INVAL;
	info = phys_to_virt(PADDR(info_pa));
	if (!(info->flags & MB_INFO_MMAP))
		return E_INVAL;
	memmap_init(m);
	read_mmap(info, m);
	if (memmap_bytes(m, MEM_USABLE) == 0)
		return E_NOMEM;
	add(m, 0, 1 << 20, MEM_LOW);
	add(m, image_start, image_end - image_start, MEM_KERNEL);
	add(m, info_pa, sizeof(*info), MEM_MODULE);
	add(m, info->mmap_addr, info->mmap_length, MEM_MODULE);
	if (info->flags & MB_INFO_MODS)
		read_modules(info, m);
	cmdline[0] = '\0';
	if ((info->flags & MB_INFO_CMDLINE) && cap > 0) {
		const char *s = phys_to_virt(PADDR(info->cmdline));
		const char *args;
		size_t n = strlen(s);

		add(m, info->cmdline, n + 1, MEM_MODULE);
		args = skip_image_path(s);
		n = strlen(args);
		if (n >= cap)
			return E_NOSPC; /* cut, a word could change meaning */
		memcpy(cmdline, args, n + 1);
	}
	return E_OK;
}
