/* c_app: the plain C API. Loads a .aio model, prints its levels, runs each level once.
 *   c_app model.aio          the levels table
 *   c_app model.aio --dump   every level's outputs on a fixed input, one line per level, %.9g
 *                            (tools/aarch64_check.sh compares them across machines) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allinone/allinone.h"

#define CHECK(call)                                                               \
  do {                                                                            \
    aio_status st_ = (call);                                                      \
    if (st_ != AIO_STATUS_OK) {                                                   \
      fprintf(stderr, "c_app: %s: %s\n", aio_status_name(st_), aio_last_error()); \
      goto done;                                                                  \
    }                                                                             \
  } while (0)

int main(int argc, char** argv) {
  aio_engine_t engine = NULL;
  float* input = NULL;
  float* output = NULL;
  int rc = 1;
  uint32_t levels = 0, k;
  aio_shape in;
  const char* name = NULL;
  int dump = argc == 3 && strcmp(argv[2], "--dump") == 0;
  uint64_t in_len, i;
  if (argc != 2 && !dump) {
    fprintf(stderr, "usage: %s model.aio [--dump]\n", argv[0]);
    return 2;
  }
  CHECK(aio_engine_init_file(argv[1], NULL, &engine));
  CHECK(aio_engine_get_name(engine, &name));
  CHECK(aio_engine_get_num_levels(engine, &levels));
  CHECK(aio_engine_get_input_shape(engine, &in));
  if (!dump)
    printf("%s: %u levels, input %ux%ux%u (allinone %s, %s kernels)\n", name, levels, in.c, in.h,
           in.w, aio_get_version(), aio_get_isa());
  in_len = (uint64_t)in.c * in.h * in.w;
  input = malloc((size_t)in_len * sizeof(float));
  if (!input) goto done;
  for (i = 0; i < in_len; ++i) input[i] = (float)((i * 37) % 101) / 101.0f; /* fixed, in [0, 1) */
  if (!dump) printf("%5s %6s %12s %10s %8s\n", "level", "keep", "MFLOPs", "params", "outputs");
  for (k = 0; k < levels; ++k) {
    aio_level_info li;
    uint64_t out_len;
    li.struct_size = sizeof li;
    CHECK(aio_engine_get_level_info(engine, k, &li));
    out_len = (uint64_t)li.output_shape.c * li.output_shape.h * li.output_shape.w;
    free(output);
    output = malloc((size_t)out_len * sizeof(float));
    if (!output) goto done;
    CHECK(aio_engine_run_at(engine, k, 1, input, in_len, output, out_len));
    if (dump) {
      printf("level %u:", k);
      for (i = 0; i < out_len; ++i) printf(" %.9g", output[i]);
      printf("\n");
      continue;
    }
    printf("%5u %6.3f %12.2f %10llu %8llu\n", k, li.keep_ratio, li.flops / 1e6,
           (unsigned long long)li.params, (unsigned long long)out_len);
  }
  /* Errors come back as a status and a message, never a crash: */
  if (!dump && aio_engine_set_level(engine, levels) != AIO_STATUS_OK)
    printf("set_level(%u) refused as expected: %s\n", levels, aio_last_error());
  rc = 0;
done:
  free(input);
  free(output);
  aio_engine_free(engine);
  return rc;
}
