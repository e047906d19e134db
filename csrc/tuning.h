/* Internal: every block size, threshold and span of the kernels, each with
 * one line on why. The sizes that depend on the vector width or the dtype
 * are expressions of GF_VEC_BYTES (dtype.h) and the element size, which the
 * typed bodies evaluate. Each #ifndef one may be set with -D to experiment.
 * None of them but GF_TUNE_LV changes the sums or their order: results are
 * the same bits whatever their values (only where work goes, and how fast,
 * changes). How the
 * values were chosen: docs/perf-log.md. */
#ifndef GRADFIT_TUNING_H
#define GRADFIT_TUNING_H

/* ---- products (gemm.inc, gemm_small.inc, ukernel_*.h) ------------------ */

/* Rows of the micro-kernel's register block: 8 rows x 2 vectors use 16 of
 * AVX-512's 32 vector registers, 6 x 2 use 12 of the 16 of SSE2 / AVX2 /
 * NEON, leaving room for the B row pieces and the broadcast A values. */
#define GF_TUNE_MR(vec_bytes) ((vec_bytes) == 64 ? 8 : 6)
/* Columns of the register block: two vectors per row, so each broadcast A
 * value feeds two multiply-adds. */
#define GF_TUNE_NR(vec_bytes, elem_bytes) (2 * (vec_bytes) / (elem_bytes))

/* The values marked "(run time)" below are defaults: the values in use are
 * set at import by gradfit._tuning, from the CPU's caches, and by pool.c,
 * from the pool's measured wake-up cost (pool.h: gf_tuning). */

/* (run time) k block of the unpacked product (matmul_acc): KC x NR of B is
 * 32 KiB at most, which stays in L1 (or L2's nearest ways) while every row
 * block reads it. */
#define GF_MATMUL_KC 256

/* (run time) Bytes of one packed kc x NR panel of B: 16 KiB by default, so
 * it and the A micro-panel stay in L1 (32 KiB or more on every target); the
 * value in use comes from the CPU's L1, within these bounds. */
#define GF_PANEL_BYTES 16384
#define GF_PANEL_BYTES_MIN 256
#define GF_PANEL_BYTES_MAX 65536
/* An upper bound of the packed product's k block (and its value when the
 * panel bound allows more): the workspace's packing scratch (layout.h) is
 * sized by it; gemm.inc checks that KC_MAX stays within it. */
#define GF_KC_BOUND 256

/* (run time) The bytes a k block of a transposed A (dW = inp^T dout) may
 * span to be read in place instead of packed: 16 KiB is at most a quarter of every L1
 * set on every target, whatever the stride, beside the packed B panel. */
#ifndef GF_A_COLS_SPAN
#define GF_A_COLS_SPAN 16384
#endif

/* A product with fewer rows than this does not pay for packing B: it runs
 * unpacked (matmul_acc when B is row-major, dot products when B is a
 * transposed view). */
#define GF_SMALL_M 4
/* A layer with fewer outputs than this is "narrow": its products keep each
 * sum in a register (matmul_acc's dot products: no packing, no scratch). */
#define GF_NARROW_OUT 4

/* (run time) Products smaller than this many multiply-adds stay on one
 * thread: waking the workers would cost more than it saves. The default
 * holds until the pool starts; then pool.c derives this and the three
 * thresholds below from the pool's measured wake-up cost (gf_pool_measure)
 * and one thread's rate (GF_RATE_*, or gradfit._tuning's model of the CPU),
 * unless GRADFIT_TUNING sets them. */
#ifndef GF_PARALLEL_MACS
#define GF_PARALLEL_MACS ((int64_t)1 << 21)
#endif
/* Products that write at least this many entries of C split over threads
 * too, whatever K: a narrow last layer's dinp (K = 1, C = batch x 512) is a
 * pass over memory as long as a product. */
#ifndef GF_PARALLEL_OUTS
#define GF_PARALLEL_OUTS ((int64_t)1 << 16)
#endif

/* ---- the training step (train.inc, optim.inc, pool.c) ------------------ */

/* Pieces of a step (row gather, bias gradients, a narrow layer's products)
 * with fewer elements than this stay on the calling thread: a pool wake-up
 * costs more than they do. */
#ifndef GF_PARALLEL_SMALL
#define GF_PARALLEL_SMALL ((int64_t)1 << 14)
#endif
/* Optimizer updates of fewer entries than this stay on one thread, for the
 * same reason (an update is a few flops per entry). */
#ifndef GF_PARALLEL_UPDATE
#define GF_PARALLEL_UPDATE ((int64_t)1 << 16)
#endif
/* Batches of rows prefetched ahead of the minibatch loop, so that the
 * random rows of a shuffled epoch have time to arrive: 2 beat 1 on the
 * tested CPUs, more was no better. */
#ifndef GF_PF_BATCHES
#define GF_PF_BATCHES 2
#endif
/* The derived thresholds: a split is made when it saves at least this many
 * times the two wake-ups it costs; never below GF_PARALLEL_FLOOR. The
 * margin also covers what the probe does not see: the parts' outputs moving
 * between the cores' caches for the next product, the join, uneven parts.
 * With 4, a 261 ns wake-up split W3's 64x64x64 products (0.26M
 * multiply-adds), and 2 threads ran W3 at 0.90-0.94x one thread. 16 was
 * set against a probe made once, on workers just created (most often
 * 200-350 ns on the Zen 5 VM); the probe repeated on warm workers settles
 * at 110-220 ns, which with 16 split W4's 64x128x64 products (0.52M) and
 * ran W4 at 0.88x: 32 keeps the thresholds where they were measured not to
 * lose. */
#define GF_SPLIT_MARGIN 32
#define GF_PARALLEL_FLOOR ((int64_t)1 << 12)
/* One thread's rates the thresholds assume when gradfit._tuning does not
 * give them: multiply-adds per ns of the packed products (16 float32 lanes
 * x 2 FMA pipes x ~2 GHz) and elements per ns of a pass over memory. */
#define GF_RATE_MACS_PER_NS 64.0
#define GF_RATE_ELEMS_PER_NS 8.0
/* The wake-up probe: GF_PROBE_RUNS empty two-part tasks, each waiting at
 * most GF_PROBE_WAIT_NS for a worker (their median counts). */
#define GF_PROBE_RUNS 9
#define GF_PROBE_WAIT_NS 2000000
/* ... repeated (pool.c, gf_pool_reprobe) by up to GF_PROBE_ROUNDS later
 * calls, each at least GF_PROBE_GAP_NS after the last round, so that one
 * busy moment does not decide the thresholds. */
#define GF_PROBE_ROUNDS 16
#define GF_PROBE_GAP_NS 10000000
/* (run time) How long a pool thread spins before it sleeps (nanoseconds):
 * longer than the gap between two products of one step, so workers stay
 * awake within a step and sleep between calls. */
#ifndef GF_SPIN_NS
#define GF_SPIN_NS 200000
#endif

/* ---- losses (nn.inc) ---------------------------------------------------- */

/* Elements of the softmax cross-entropy's stack buffers (exponentials of a
 * block of rows without dpred, and the rows' t.(max - p) terms): 8 KiB of
 * float64, within L1, and at least one row of up to this many classes. */
#define GF_CE_BUF 1024

/* ---- the narrow-net ("lanes") path (lanes.inc) ------------------------- */

/* The nets the lanes path takes: every layer at most GF_LANES_MAX_WIDTH
 * wide (input and output included) and no layer with more than
 * GF_LANES_MAX_PRODUCT weights: up to there the lanes path beats the packed
 * products on the tested CPUs; a 16x16 layer the packed products do
 * better. */
#ifndef GF_LANES_MAX_WIDTH
#define GF_LANES_MAX_WIDTH 16
#endif
#ifndef GF_LANES_MAX_PRODUCT
#define GF_LANES_MAX_PRODUCT 144
#endif
/* Partial sums of a reduction over rows: two vectors' worth, so that two
 * independent add chains hide the add latency. The order in which they are
 * combined is fixed (GF_LANES_TREE), but their number sets it: changing
 * this changes the bits of the lanes path. */
#define GF_TUNE_LV(vec_bytes, elem_bytes) (2 * (vec_bytes) / (elem_bytes))
/* Rows per block of the forward-only passes (gf_loss, gf_predict): blocks
 * of this many keep every layer's activations in L1, where a 4096-row
 * block of a 1-8-1 net does not fit. */
#ifndef GF_LANES_FORWARD_ROWS
#define GF_LANES_FORWARD_ROWS 256
#endif

/* ---- the epoch order (order.c); none changes the order, the moved rows or the draws ---- */

/* The largest bucket shuffled through a uint16 arrangement: its indices
 * 0..m-1 must fit 16 bits. Larger buckets (n > 2^28 with 4096 buckets, or
 * a small k forced by a test) swap in place. */
#define GF_ORDER_PERM_MAX 65536
/* The most scratch step 3 allocates per call (the arrangement and a copy of
 * one bucket's rows): ~140 KiB for two 8-byte rows of a typical bucket, and
 * a bound on what one epoch's draw takes from the heap; wider rows swap in
 * place. */
#define GF_ORDER_SCRATCH_MAX ((int64_t)8 << 20)
/* The most buckets whose ids are counted in four uint32 histograms (one per
 * 16-bit piece of an output, 16 KiB of stack at this bound, in L1): equal
 * ids close together then do not wait on each other's increments. More
 * buckets use one count. */
#define GF_ORDER_HIST4_MAX 1024
/* Bytes one prefetch covers: a cache line on the x86-64 and aarch64 CPUs
 * gradfit targets (a wrong guess costs speed only). */
#define GF_ORDER_LINE 64

#endif
