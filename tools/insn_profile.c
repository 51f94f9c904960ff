/* A qemu-user TCG plugin (qemu 7.x plugin API, declared here as ../shared/tools/insn_count.c
 * does) that counts executed guest instructions per translated block and, at exit, writes them
 * attributed to the mapped file and file offset of each block's first instruction, so that
 * tools/insn_profile.py can sum them per function (nm) of liballinone.so.
 *   gcc -shared -fPIC -O2 -o insn_profile.so tools/insn_profile.c
 *   qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu cortex-a72 -plugin ./insn_profile.so,out=prof.txt P
 * Output lines: "<count> <file offset hex> <path>" (one per block with a count), then
 * "insns N". Single-threaded guests only (the inline adds are not atomic). The host address of an
 * instruction (qemu_plugin_insn_haddr) lies in the host mapping of the guest's file, which the
 * host's /proc/self/maps names. */
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
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, enum qemu_plugin_op, void *,
                                              uint64_t);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, udata_cb, void *);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

struct block {
  uint64_t count;
  uintptr_t haddr;
};
enum { kChunk = 1 << 16 };
struct chunk {
  struct block b[kChunk];
  size_t used;
  struct chunk *next;
};
static struct chunk *chunks;
static uint64_t total;
static const char *out_path = "insn_profile.txt";

static struct block *new_block(void) {
  if (!chunks || chunks->used == kChunk) {
    struct chunk *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->next = chunks;
    chunks = c;
  }
  return &chunks->b[chunks->used++];
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  const size_t n = qemu_plugin_tb_n_insns(tb);
  struct block *b = new_block();
  b->haddr = (uintptr_t)qemu_plugin_insn_haddr(qemu_plugin_tb_get_insn(tb, 0));
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->count, n);
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
}

struct mapping {
  uintptr_t lo, hi, off;
  char path[256];
};

static void at_exit(qemu_plugin_id_t id, void *p) {
  (void)id;
  (void)p;
  static struct mapping maps[4096];
  size_t n_maps = 0;
  FILE *m = fopen("/proc/self/maps", "r");
  char line[512];
  while (m && n_maps < 4096 && fgets(line, sizeof line, m)) {
    struct mapping *mp = &maps[n_maps];
    unsigned long lo, hi, off;
    char perms[8], path[256] = "";
    if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %255s", &lo, &hi, perms, &off, path) < 4) continue;
    if (path[0] != '/') continue;
    mp->lo = lo;
    mp->hi = hi;
    mp->off = off;
    strcpy(mp->path, path);
    ++n_maps;
  }
  if (m) fclose(m);
  FILE *out = fopen(out_path, "w");
  if (!out) out = stderr;
  for (struct chunk *c = chunks; c; c = c->next)
    for (size_t i = 0; i < c->used; ++i) {
      const struct block *b = &c->b[i];
      if (!b->count) continue;
      const char *path = "?";
      uintptr_t off = b->haddr;
      for (size_t k = 0; k < n_maps; ++k)
        if (b->haddr >= maps[k].lo && b->haddr < maps[k].hi) {
          path = maps[k].path;
          off = b->haddr - maps[k].lo + maps[k].off;
          break;
        }
      fprintf(out, "%llu %lx %s\n", (unsigned long long)b->count, (unsigned long)off, path);
    }
  fprintf(out, "insns %llu\n", (unsigned long long)total);
  if (out != stderr) fclose(out);
  fprintf(stderr, "insns %llu\n", (unsigned long long)total);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const qemu_info_t *info, int argc,
                                                               char **argv) {
  (void)info;
  for (int i = 0; i < argc; ++i)
    if (strncmp(argv[i], "out=", 4) == 0) out_path = argv[i] + 4;
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
  qemu_plugin_register_atexit_cb(id, at_exit, NULL);
  return 0;
}
