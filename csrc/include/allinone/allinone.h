/* allinone C API: load a .aio model, run any of its nested pruning levels, and let a governor pick
 * the level from a frequency source so latency stays on target under DVFS.
 *
 * Conventions (docs/c_api.md has the full reference):
 *  - Opaque handles: aio_engine_t (a loaded model), aio_source_t (a clock), aio_adaptive_t (an
 *    engine + source + governor). Each has *_init* functions and one *_free (NULL is a no-op).
 *  - Every function that can fail returns an aio_status; AIO_STATUS_OK is 0. On failure,
 *    aio_last_error() returns a message naming the problem. The message is thread-local: it
 *    belongs to the calling thread and stays valid until that thread's next failing call.
 *  - No C++ exception ever crosses this boundary; bad arguments (NULL pointers, wrong buffer
 *    lengths, levels out of range, a struct_size the library does not know) are reported, never
 *    undefined behaviour.
 *  - Options and info structs begin with struct_size = sizeof(the struct). Fields are only ever
 *    appended, so an application built against an older header keeps working with a newer
 *    library. Get defaults from aio_*_options_default(), then change fields.
 *  - Integers in the API are fixed-width; size_t only counts bytes of a memory buffer.
 *  - Threads: aio_engine_run / aio_engine_run_at may be called from several threads on one
 *    engine. An aio_adaptive_t serves one inference thread at a time; its own monitor thread (if
 *    poll_us > 0) runs beside it safely.
 */
#ifndef ALLINONE_H_
#define ALLINONE_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#if defined(AIO_BUILDING_LIBRARY)
#define AIO_API __declspec(dllexport)
#else
#define AIO_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define AIO_API __attribute__((visibility("default")))
#else
#define AIO_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status and errors ---------------------------------------------------------------------- */

typedef enum aio_status {
  AIO_STATUS_OK = 0,
  AIO_STATUS_IO = 1,               /* file missing or unreadable */
  AIO_STATUS_FORMAT = 2,           /* not a valid .aio file (damaged, truncated, wrong version) */
  AIO_STATUS_INVALID_ARGUMENT = 3, /* NULL pointer, bad size, level out of range, bad option */
  AIO_STATUS_UNSUPPORTED = 4,      /* valid file using something this build cannot run */
  AIO_STATUS_INTERNAL = 5,         /* a bug: please report with the message */
  AIO_STATUS_UNAVAILABLE = 6,      /* a frequency source cannot work on this machine */
  AIO_STATUS_OUT_OF_MEMORY = 7,
  /* Not a status: widens the enum to 32 bits so any int a caller passes is a valid value. */
  AIO_STATUS_MAX_ENUM_ = 0x7fffffff
} aio_status;

/* Static name of a status ("AIO_STATUS_FORMAT"); "AIO_STATUS_UNKNOWN" for other values. */
AIO_API const char* aio_status_name(aio_status status);
/* Message of the calling thread's last failing call; "" if none failed yet. Never NULL. */
AIO_API const char* aio_last_error(void);

/* Library version "MAJOR.MINOR.PATCH" (the package version). */
AIO_API const char* aio_get_version(void);
/* Kernel set chosen for this CPU: "avx512", "avx2", "neon" (every aarch64 CPU) or "scalar" (the
 * portable path: other CPUs). AIO_FORCE_ISA=scalar|avx2 in the environment lowers it. */
AIO_API const char* aio_get_isa(void);
/* ARMv8.2 extensions this CPU has, comma-separated in this order: "fp16" (half-precision
 * arithmetic), "dotprod" (int8 dot product), "i8mm" (int8 matrix multiply); "" when none (x86-64,
 * ARMv8.0 cores such as the Cortex-A72). What the CPU offers, for kernels that will use them:
 * today's kernels are fp32 and use none. Never NULL. */
AIO_API const char* aio_get_isa_features(void);

/* ---- engine: one loaded model --------------------------------------------------------------- */

typedef struct aio_engine* aio_engine_t;

typedef struct aio_engine_options {
  uint32_t struct_size; /* sizeof(aio_engine_options) */
  int32_t threads;      /* worker threads; 0: one per available core (per CPU of `cpus`) */
  /* Resource limits checked at load (added in 0.1; an older, shorter struct gets the defaults).
   * A few hundred bytes of valid file can declare gigabytes of activations or hours of compute;
   * a model over a limit fails with AIO_STATUS_UNSUPPORTED and a message giving its needs. */
  uint64_t max_activation_bytes; /* activation memory per image; default 1 GiB; 0: no limit */
  uint64_t max_flops;            /* FLOPs per image at level 0; default 0: no limit */
  /* Added after the limits (an older, shorter struct gets the default). Nonzero (default): 3x3
   * stride-1 convolutions with 16+ input channels on maps of 14 x 14 and more run by Winograd
   * F(2x2, 3x3), faster for 16/9 of those layers' weights, or F(4x4, 3x3) where it does clearly
   * less work (per layer), faster still for 4x those weights; 0: no Winograd, all levels in the
   * memory of one model. */
  int32_t winograd;
  /* Added after winograd (an older, shorter struct gets the default, NULL). Pin the worker
   * threads to these CPUs, written as in sysfs related_cpus: "4-7", "0,2", "0-1 4". NULL or "":
   * no pinning. The kernel's answer is read back (aio_engine_get_affinity); a set it refuses
   * fails the load with AIO_STATUS_INVALID_ARGUMENT. The calling thread is worker 0 and keeps its
   * own affinity: pin it with sched_setaffinity for the whole run to stay on one cluster. The
   * string is read during init only. */
  const char* cpus;
} aio_engine_options;

typedef struct aio_shape {
  uint32_t c, h, w; /* one image, NCHW without N */
} aio_shape;

typedef struct aio_level_info {
  uint32_t struct_size;   /* set by the caller: sizeof(aio_level_info) */
  float keep_ratio;       /* nominal keep ratio written by the exporter */
  uint64_t flops;         /* 2 x multiply-adds of convs and linears, one image */
  uint64_t params;        /* weights and per-channel biases this level uses */
  uint32_t num_widths;    /* number of channel groups */
  const uint32_t* widths; /* channels kept per group; valid while the engine lives */
  aio_shape output_shape; /* one image's output at this level */
} aio_level_info;

AIO_API aio_engine_options aio_engine_options_default(void);

/* Loads a model from a file, or from memory (the bytes are copied; the buffer can be freed right
 * after). opts may be NULL for the defaults. On failure *out is set to NULL. */
AIO_API aio_status aio_engine_init_file(const char* path, const aio_engine_options* opts,
                                        aio_engine_t* out);
AIO_API aio_status aio_engine_init_memory(const void* data, size_t size,
                                          const aio_engine_options* opts, aio_engine_t* out);
/* Frees the engine. An aio_adaptive_t made from it keeps the model alive until it is freed. */
AIO_API void aio_engine_free(aio_engine_t engine);

/* The model's name; valid while the engine lives. */
AIO_API aio_status aio_engine_get_name(aio_engine_t engine, const char** name);
AIO_API aio_status aio_engine_get_num_labels(aio_engine_t engine, uint32_t* count);
AIO_API aio_status aio_engine_get_label(aio_engine_t engine, uint32_t index, const char** label);
AIO_API aio_status aio_engine_get_num_levels(aio_engine_t engine, uint32_t* count);
AIO_API aio_status aio_engine_get_level_info(aio_engine_t engine, uint32_t level,
                                             aio_level_info* info);
AIO_API aio_status aio_engine_get_input_shape(aio_engine_t engine, aio_shape* shape);
AIO_API aio_status aio_engine_get_output_shape(aio_engine_t engine, uint32_t level,
                                               aio_shape* shape);
AIO_API aio_status aio_engine_get_threads(aio_engine_t engine, int32_t* threads);
/* The CPUs the worker threads run on, read back from the kernel after pinning (see
 * aio_engine_options.cpus): writes min(capacity, *count) ids to cpus (may be NULL when capacity
 * is 0) and the full count to *count; 0 without pinning or without worker threads. A set smaller
 * than the one asked for (offline CPUs, a cpuset) is not an error: compare it. */
AIO_API aio_status aio_engine_get_affinity(aio_engine_t engine, int32_t* cpus, uint32_t capacity,
                                           uint32_t* count);
/* Bytes of packed weights in memory, all levels together (levels share them). */
AIO_API aio_status aio_engine_get_weight_bytes(aio_engine_t engine, uint64_t* bytes);

/* Current level: O(1), allocates nothing, moves no weight. Level 0 is the least pruned. */
AIO_API aio_status aio_engine_get_level(aio_engine_t engine, uint32_t* level);
AIO_API aio_status aio_engine_set_level(aio_engine_t engine, uint32_t level);

/* Runs `batch` images at the current level (taken when the call starts). input: batch x C x H x W
 * contiguous float32; input_len (floats) must equal batch x C x H x W. output_len (floats) must
 * be at least batch x the output size at that level. *level_used (may be NULL) gets the level. */
AIO_API aio_status aio_engine_run(aio_engine_t engine, uint32_t batch, const float* input,
                                  uint64_t input_len, float* output, uint64_t output_len,
                                  uint32_t* level_used);
/* Same at a given level, leaving the current level alone. */
AIO_API aio_status aio_engine_run_at(aio_engine_t engine, uint32_t level, uint32_t batch,
                                     const float* input, uint64_t input_len, float* output,
                                     uint64_t output_len);

/* ---- frequency sources ---------------------------------------------------------------------- */

typedef struct aio_source* aio_source_t;

/* A constant clock (tests, machines without DVFS). max_mhz <= 0: cpu_mhz. */
AIO_API aio_status aio_source_init_fixed(double cpu_mhz, double max_mhz, aio_source_t* out);
/* A replayed trace: CSV `t_s,cpu_mhz[,gpu_mhz]`. It follows the wall clock from creation until
 * aio_source_set_time() is first called; from then on it holds the time last set (emulation). */
AIO_API aio_status aio_source_init_replay(const char* csv_path, aio_source_t* out);
/* Linux cpufreq. sysfs_root NULL: "/sys". policy < 0: the policy with the highest max clock. */
AIO_API aio_status aio_source_init_cpufreq(const char* sysfs_root, int32_t policy,
                                           aio_source_t* out);
/* Linux cpufreq, the policy (cluster) that owns every CPU in `cpus` ("4-7", as in
 * aio_engine_options.cpus): a monitor for an engine pinned to one big.LITTLE cluster follows
 * that cluster's clock, not the fastest one. AIO_STATUS_UNAVAILABLE when the CPUs span
 * policies or no policy lists them. */
AIO_API aio_status aio_source_init_cpufreq_for_cpus(const char* sysfs_root, const char* cpus,
                                                    aio_source_t* out);
/* Linux devfreq (GPU clocks). device NULL or "": the first device that looks like a GPU. */
AIO_API aio_status aio_source_init_devfreq(const char* sysfs_root, const char* device,
                                           aio_source_t* out);
/* Frees the source. An aio_adaptive_t made from it keeps it alive until it is freed. */
AIO_API void aio_source_free(aio_source_t source);

/* Current clocks in MHz; 0 for a clock the source does not have. Either pointer may be NULL. */
AIO_API aio_status aio_source_read(aio_source_t source, double* cpu_mhz, double* gpu_mhz);
AIO_API aio_status aio_source_get_max_mhz(aio_source_t source, double* max_mhz);
/* "fixed", "replay", "cpufreq", "devfreq"; valid while the source lives. */
AIO_API aio_status aio_source_get_name(aio_source_t source, const char** name);
/* Which file, policy or device the numbers come from; valid while the source lives. */
AIO_API aio_status aio_source_get_description(aio_source_t source, const char** text);
/* 1 when the numbers are not this machine's live clock (fixed value, replayed trace). */
AIO_API aio_status aio_source_is_emulated(aio_source_t source, int32_t* emulated);
/* Replay sources only (else AIO_STATUS_INVALID_ARGUMENT): trace time, length, looping. */
AIO_API aio_status aio_source_set_time(aio_source_t source, double t_s);
AIO_API aio_status aio_source_get_duration(aio_source_t source, double* seconds);
AIO_API aio_status aio_source_set_loop(aio_source_t source, int32_t loop);

/* ---- adaptive mode: engine + source + governor ---------------------------------------------- */

typedef struct aio_adaptive* aio_adaptive_t;

/* Called on the monitor thread when the governor changes level. Must not call back into this
 * adaptive handle. */
typedef void (*aio_level_callback)(void* user_data, uint32_t old_level, uint32_t new_level,
                                   double mhz);

typedef struct aio_adaptive_options {
  uint32_t struct_size; /* sizeof(aio_adaptive_options) */
  double target_ms;     /* <= 0: 1.05 x level 0's latency at f_ref */
  /* Per-level latency table at f_ref_mhz (ms per image, level 0 first). NULL: calibrate now
   * (calibration_runs timed runs per level, batch 1, median). */
  const double* level_ms;
  uint32_t num_level_ms;    /* entries in level_ms; must equal the engine's level count */
  int32_t calibration_runs; /* <= 0: 20 */
  double f_ref_mhz;         /* clock the table was measured at; <= 0: the source's max */
  double alpha;             /* compute-bound share in t(f) = t(f_ref)(alpha f_ref/f + 1 - alpha) */
  double up_margin;         /* hysteresis band before returning to a less-pruned level */
  double ewma_weight;       /* weight of each sample in the feedback/spread telemetry */
  double miss_z;            /* tail prior per level: 1 + miss_z sigma (the C API has no p99s) */
  /* 1: emulate the source's clock on this machine: after each run, busy-wait as the clock would
   * have slowed it (t(f)/t(f_max) with `alpha`, f_max = the source's max). Latencies and stats
   * then are EMULATED. For machines without DVFS (CI, VMs) replaying a trace. */
  int32_t emulate;
  /* > 0: a monitor thread polls the source every poll_us microseconds and sets the level; 0: each
   * run reads the source itself (simplest; right for replayed traces with aio_source_set_time). */
  uint32_t poll_us;
  aio_level_callback on_level_change; /* optional, with poll_us > 0 */
  void* user_data;
  /* Added after user_data (an older, shorter struct gets the defaults): the learned correction.
   * Predictions are scaled by the guard_quantile-quantile of the last guard_window values of
   * log(measured / predicted tail), inside a dead band. Default 0.99 over 512 runs; 0: no
   * learning. See docs/dvfs.md. */
  double guard_quantile;
  uint32_t guard_window;
  /* Added after guard_window (an older, shorter struct gets NULL/0): a latency table measured at
   * several clocks (`allinone sweep`'s "table_ms"). table_freqs_mhz: num_table_freqs distinct
   * clocks; table_freq_ms: num_table_freqs x levels ms, row-major (all levels of the first clock,
   * then the next). Replaces level_ms/f_ref_mhz: the governor interpolates between measured
   * clocks (linearly in 1/f) and uses the alpha model only outside them. */
  const double* table_freqs_mhz;
  const double* table_freq_ms;
  uint32_t num_table_freqs;
} aio_adaptive_options;

typedef struct aio_stats {
  uint32_t struct_size; /* set by the caller: sizeof(aio_stats) */
  uint64_t count;       /* inferences since init or the last aio_adaptive_reset_stats */
  double p50_ms, p90_ms, p99_ms, max_ms, mean_ms;
  double cv;         /* standard deviation / mean of latency */
  double miss_rate;  /* share of inferences slower than the target */
  double mean_level; /* average level index */
  uint64_t switches; /* level changes between consecutive inferences */
  double target_ms;  /* the target the miss rate was counted against */
  double feedback;   /* governor's measured/predicted EWMA */
  double spread;     /* governor's relative latency spread (sigma) */
} aio_stats;

AIO_API aio_adaptive_options aio_adaptive_options_default(void);

/* Keeps engine and source alive until aio_adaptive_free (both may be freed before it). Sets the
 * engine's level to the governor's first choice. opts may be NULL for the defaults. */
AIO_API aio_status aio_adaptive_init(aio_engine_t engine, aio_source_t source,
                                     const aio_adaptive_options* opts, aio_adaptive_t* out);
AIO_API void aio_adaptive_free(aio_adaptive_t adaptive);

/* Runs `batch` images at the governor's level, feeds the measured (or emulated) latency back.
 * Buffer rules as aio_engine_run. level_used and latency_ms (per image) may be NULL. */
AIO_API aio_status aio_adaptive_run(aio_adaptive_t adaptive, uint32_t batch, const float* input,
                                    uint64_t input_len, float* output, uint64_t output_len,
                                    uint32_t* level_used, double* latency_ms);
AIO_API aio_status aio_adaptive_get_level(aio_adaptive_t adaptive, uint32_t* level);
AIO_API aio_status aio_adaptive_get_target(aio_adaptive_t adaptive, double* target_ms);
/* target_ms <= 0 restores the default. */
AIO_API aio_status aio_adaptive_set_target(aio_adaptive_t adaptive, double target_ms);
/* The latency table in use (calibrated or given): writes min(len, levels) entries. */
AIO_API aio_status aio_adaptive_get_table(aio_adaptive_t adaptive, double* level_ms, uint32_t len);
/* Predicted latency of a level at a clock, with the current feedback. */
AIO_API aio_status aio_adaptive_predict(aio_adaptive_t adaptive, uint32_t level, double mhz,
                                        double* ms);
AIO_API aio_status aio_adaptive_get_stats(aio_adaptive_t adaptive, aio_stats* stats);
/* Inferences run at one level and their total time since the last reset. */
AIO_API aio_status aio_adaptive_get_level_stats(aio_adaptive_t adaptive, uint32_t level,
                                                uint64_t* count, double* total_ms);
AIO_API aio_status aio_adaptive_reset_stats(aio_adaptive_t adaptive);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ALLINONE_H_ */
