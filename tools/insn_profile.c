/* A qemu-user TCG plugin (qemu 7.x API, declared here as in ../shared/tools/insn_count.c) that
 * attributes executed guest instructions to code locations: per translation block, the host
 * address of its first instruction, mapped at exit through the host's /proc/self/maps to
 * (file, offset). tools/aarch64_profile.py turns that into counts per function of
 * liballinone.so. Build: gcc -shared -fPIC -O2 -o insn_profile.so tools/insn_profile.c
 * Use: qemu-aarch64 -plugin ./insn_profile.so,out=FILE PROGRAM ARGS (FILE: "offset count path"
 * lines; "insns N" on stderr as insn_count.so prints). Single-threaded guests only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*udata_cb)(qemu_plugin_id_t, void *);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
void *qemu_plugin_insn_haddr(const struct qemu_plugin_insn *);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, enum qemu_plugin_op,
                                              void *, uint64_t);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, udata_cb, void *);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

struct block {
  uint64_t count;  /* instructions executed (inline add of the block's length per execution) */
  uintptr_t haddr;
};
static struct block *blocks;
static size_t n_blocks, cap_blocks;
static uint64_t total;
static char out_path[4096] = "insn_profile.txt";

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  size_t n = qemu_plugin_tb_n_insns(tb);
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
  if (n_blocks == cap_blocks) {
    /* Chunks that never move: the inline adds hold pointers into them. */
    cap_blocks = 1 << 16;
    blocks = calloc(cap_blocks, sizeof *blocks);
    n_blocks = 0;
    if (!blocks) abort();
    /* Keep every chunk reachable for the dump: the first slot links to the previous chunk. */
    static struct block *prev;
    blocks[0].haddr = (uintptr_t)prev;
    blocks[0].count = UINT64_MAX;
    prev = blocks;
    n_blocks = 1;
  }
  struct block *b = &blocks[n_blocks++];
  b->haddr = (uintptr_t)qemu_plugin_insn_haddr(qemu_plugin_tb_get_insn(tb, 0));
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->count, n);
}

struct map {
  uintptr_t lo, hi, off;
  char path[512];
};

static void dump_at_exit(qemu_plugin_id_t id, void *p) {
  (void)id;
  (void)p;
  fprintf(stderr, "insns %llu\n", (unsigned long long)total);
  struct map maps[1024];
  size_t n_maps = 0;
  FILE *f = fopen("/proc/self/maps", "r");
  char line[1024];
  while (f && n_maps < 1024 && fgets(line, sizeof line, f)) {
    struct map *m = &maps[n_maps];
    unsigned long lo, hi, off;
    char perms[8];
    m->path[0] = 0;
    if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %511s", &lo, &hi, perms, &off, m->path) >= 4) {
      m->lo = lo, m->hi = hi, m->off = off;
      ++n_maps;
    }
  }
  if (f) fclose(f);
  FILE *o = fopen(out_path, "w");
  if (!o) return;
  /* Walk the chunks from the newest back through the links in slot 0. */
  for (struct block *c = blocks, *end = blocks + n_blocks; c;) {
    for (struct block *b = c + 1; b < end; ++b) {
      if (!b->count) continue;
      const char *path = "?";
      uintptr_t off = b->haddr;
      for (size_t i = 0; i < n_maps; ++i)
        if (b->haddr >= maps[i].lo && b->haddr < maps[i].hi) {
          path = maps[i].path[0] ? maps[i].path : "[anon]";
          off = b->haddr - maps[i].lo + maps[i].off;
          break;
        }
      fprintf(o, "%lx %llu %s\n", (unsigned long)off, (unsigned long long)b->count, path);
    }
    struct block *prev = (struct block *)c[0].haddr;
    c = prev;
    end = prev ? prev + cap_blocks : NULL;
  }
  fclose(o);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const qemu_info_t *info, int argc,
                                                               char **argv) {
  (void)info;
  for (int i = 0; i < argc; ++i)
    if (strncmp(argv[i], "out=", 4) == 0) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
  qemu_plugin_register_atexit_cb(id, dump_at_exit, NULL);
  return 0;
}
