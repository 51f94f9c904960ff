/* Driver of benchmarks/aarch64_insns.py and tools/aarch64_check.sh.
 *   aarch64_insns_driver model.aio level runs [winograd 0|1]
 *     loads the model on one thread, runs `runs` inferences of one level on a fixed input, and
 *     prints the kernel set, the level's FLOPs and the CPU's extensions. aarch64_insns.py runs it
 *     under qemu-aarch64 with an instruction-counting plugin at two run counts and takes the
 *     difference, so loading and weight packing drop out.
 *   aarch64_insns_driver model.aio --dump threads
 *     every level's outputs on the same fixed input with `threads` workers, one line per level
 *     ("level k: v v ..."), after a line "# isa NAME" (aarch64_check.sh compares machines). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allinone/allinone.h"

static int dump(const char* path, int threads) {
  aio_engine_options opts = aio_engine_options_default();
  aio_engine_t engine = NULL;
  aio_shape in;
  float *input = NULL, *output = NULL;
  uint64_t in_len, out_len, i;
  uint32_t levels = 0, k;
  int rc = 1;
  opts.threads = threads;
  if (aio_engine_init_file(path, &opts, &engine) != AIO_STATUS_OK ||
      aio_engine_get_num_levels(engine, &levels) != AIO_STATUS_OK ||
      aio_engine_get_input_shape(engine, &in) != AIO_STATUS_OK)
    goto fail;
  in_len = (uint64_t)in.c * in.h * in.w;
  input = malloc((size_t)in_len * sizeof(float));
  if (!input) goto fail;
  for (i = 0; i < in_len; ++i) input[i] = (float)((i * 37) % 101) / 101.0f;
  printf("# isa %s\n", aio_get_isa());
  for (k = 0; k < levels; ++k) {
    aio_shape out;
    if (aio_engine_get_output_shape(engine, k, &out) != AIO_STATUS_OK) goto fail;
    out_len = (uint64_t)out.c * out.h * out.w;
    free(output);
    output = malloc((size_t)out_len * sizeof(float));
    if (!output || aio_engine_run_at(engine, k, 1, input, in_len, output, out_len) != AIO_STATUS_OK)
      goto fail;
    printf("level %u:", k);
    for (i = 0; i < out_len; ++i) printf(" %.9g", output[i]);
    printf("\n");
  }
  rc = 0;
  goto done;
fail:
  fprintf(stderr, "aarch64_insns_driver: %s\n", aio_last_error());
done:
  free(input);
  free(output);
  aio_engine_free(engine);
  return rc;
}

int main(int argc, char** argv) {
  aio_engine_options opts = aio_engine_options_default();
  aio_engine_t engine = NULL;
  aio_level_info li;
  aio_shape in;
  float *input = NULL, *output = NULL;
  uint64_t in_len, out_len, i;
  unsigned level, runs, r;
  int rc = 1;
  if (argc < 4 || argc > 5) {
    fprintf(stderr, "usage: %s model.aio level runs [winograd 0|1] | model.aio --dump threads\n",
            argv[0]);
    return 2;
  }
  if (strcmp(argv[2], "--dump") == 0) return dump(argv[1], atoi(argv[3]));
  level = (unsigned)strtoul(argv[2], NULL, 10);
  runs = (unsigned)strtoul(argv[3], NULL, 10);
  opts.threads = 1; /* the plugin's counter is not atomic; one thread is the figure anyway */
  if (argc == 5) opts.winograd = atoi(argv[4]);
  if (aio_engine_init_file(argv[1], &opts, &engine) != AIO_STATUS_OK) goto fail;
  li.struct_size = sizeof li;
  if (aio_engine_get_input_shape(engine, &in) != AIO_STATUS_OK ||
      aio_engine_get_level_info(engine, level, &li) != AIO_STATUS_OK)
    goto fail;
  in_len = (uint64_t)in.c * in.h * in.w;
  out_len = (uint64_t)li.output_shape.c * li.output_shape.h * li.output_shape.w;
  input = malloc((size_t)in_len * sizeof(float));
  output = malloc((size_t)out_len * sizeof(float));
  if (!input || !output) goto fail;
  for (i = 0; i < in_len; ++i) input[i] = (float)((i * 37) % 101) / 101.0f;
  for (r = 0; r < runs; ++r)
    if (aio_engine_run_at(engine, level, 1, input, in_len, output, out_len) != AIO_STATUS_OK)
      goto fail;
  printf("isa %s flops %llu features %s\n", aio_get_isa(), (unsigned long long)li.flops,
         *aio_get_isa_features() ? aio_get_isa_features() : "-");
  rc = 0;
  goto done;
fail:
  fprintf(stderr, "aarch64_insns_driver: %s\n", aio_last_error());
done:
  free(input);
  free(output);
  aio_engine_free(engine);
  return rc;
}
