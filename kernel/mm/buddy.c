/* SPDX-License-Identifier: MIT */
/*
 * The lock-free buddy allocator.
 *
 * REPRESENTATION
 *
 * For each order k there is a free map: bit i of map k is set iff block i
 * of order k (frames base + i*2^k .. base + (i+1)*2^k - 1) is free and is
 * a maximal free block, i.e. "on the free list of order k". There are no
 * links, so there is no ABA and no list to corrupt. A block's buddy is
 * block i^1 of the same order, and since i and i^1 differ only in bit 0,
 * A BLOCK AND ITS BUDDY ALWAYS SHARE ONE 64-BIT WORD. Everything below
 * rests on that.
 *
 * Two hints speed up searches and are never trusted for correctness: a
 * summary bit per map word ("this word may be non-zero") and a mask of
 * orders whose maps may be non-empty. Both may be stale-positive; they are
 * stale-negative only transiently (see SEARCH).
 *
 * BLOCK STATES AND TRANSITIONS
 *
 * At any moment a block (i, k) that exists as a unit is in one state:
 *   FREE      its bit is set;
 *   OWNED     some thread owns it: allocated to a user, or in transit
 *             inside alloc/free (being split or merged).
 * Ownership rule: whoever clears a bit owns that block; whoever sets a bit
 * gives the block up. Every transition is ONE atomic step on one map word:
 *
 *   claim     FREE -> OWNED          CAS clearing the bit (or one CAS
 *                                    clearing several bits of a word: a
 *                                    batch claim)
 *   publish   OWNED -> FREE          in free: a CAS on the word holding the
 *                                    block and its buddy that sets our bit
 *                                    only if the buddy's bit is clear
 *   merge     FREE buddy -> OWNED    in free: the same CAS, clearing the
 *                                    buddy's bit if it is set; we then own
 *                                    the parent block (i/2, k+1)
 *   split     OWNED parent -> OWNED lower half + FREE upper half: a plain
 *                                    fetch-or of the upper half's bit (its
 *                                    buddy, the lower half, is ours)
 *
 * INVARIANT (checked by buddy_validate): no two buddies below the top order
 * are ever both FREE. Publishing a block happens only in one CAS that saw
 * the buddy's bit clear (else it merges instead), and a split publishes an
 * upper half while owning its buddy. So the "missed merge" race (two
 * buddies freed at once, each seeing the other not yet free) cannot occur:
 * the second of the two CASes on their shared word sees the first one's
 * bit and merges. After all frees finish, memory is fully coalesced.
 *
 * LINEARISATION POINTS
 *   alloc: the claim CAS (at the order it found a block in; the split that
 *          follows only publishes halves the caller does not get).
 *   free:  the publish CAS of the final, merged block.
 *   a failing alloc: the end of its last pass (COMPLETENESS).
 *
 * WHY RETRIES END (lock-freedom)
 *   A claim CAS fails only if its word changed, i.e. another operation
 *   changed the map: some thread progressed. A free's CAS fails likewise.
 *   A free merges at most BUDDY_MAX_ORDER times. A hinted pass visits each
 *   summary word once. An allocation makes a fast pass, a full pass, and
 *   then last passes (COMPLETENESS), each of which ends the allocation
 *   unless a block was published while it ran: another operation's
 *   progress. (Not wait-free: a CPU can keep losing blocks to others.)
 *
 * HINTS
 *   Three levels, each a hint for the one below: map word bits; summary
 *   bit w ("word w may be non-empty"); order bit k ("map k may be
 *   non-empty"). Setters go bottom-up: a publish sets the map bit, then
 *   the summary bit, then the order bit, each by load-then-fetch_or (only
 *   if it looks clear). Only a full pass clears hints, top-down after
 *   looking: it clears a word's summary bit after finding the word empty
 *   (or leaving it empty), and an order bit after a full pass found the
 *   map empty; and after each clear it reads the level below again and,
 *   if that is non-empty by then, sets back what it cleared AND EVERY
 *   LEVEL ABOVE, exactly as a publisher would (note_empty_word sets the
 *   order bit too: a publisher that saw both bits set before the clear
 *   wrote neither, and a search that trusted the cleared summary bit may
 *   have cleared the order bit since; restoring only the summary bit left
 *   map k invisible for good, defect 1 of issue 8).
 *   Claim: at quiescence, word non-zero => summary bit set => order bit
 *   set. Per level, with sequentially consistent accesses: take the last
 *   clear of a hint bit and the last step that made the level below
 *   non-empty. If the clear came first, that step's setter, loading the
 *   hint afterwards, sees it clear and sets it; if the clear came last,
 *   the clearer's re-read sees the level below non-empty and sets it back.
 *   Either way the bit ends set, and whoever sets it (publisher or
 *   clearer) goes on to the level above, where the same argument applies.
 *   In between, hints can be stale-negative: a search may miss a block
 *   (while a clearer, perhaps an interrupted one, is between its clear and
 *   its re-read). Searches that use hints therefore never conclude that
 *   memory is exhausted: the last pass does.
 *
 * COMPLETENESS (when an allocation may fail)
 *   Rule: buddy_alloc(k) fails only if at the end of its last pass no
 *   block of order >= k was free and counted (FREE COUNT). Blocks in
 *   transit, i.e. claimed by a merge or split that has not yet published
 *   its result, belong to that operation and are neither free nor
 *   counted: an interrupt that lands on a CPU in the middle of a merge
 *   cannot have the frames that merge holds, and the count says so.
 *   The last pass reads every word of every map of order >= k, ignoring
 *   hints, and claims the first set bit it finds. Around it, it reads the
 *   publish epoch (the sum of the per-CPU `added` counters, which only
 *   grow). A block B free and counted for the whole pass is found: its
 *   publish happened before the add that the first epoch read saw (the
 *   counters are sequentially consistent), so the scan reads B's word
 *   after B's bit was set and, B staying free, its CAS loop ends with B.
 *   If the pass found nothing and the epoch did not move, nothing was
 *   counted during the pass, so a block counted at its end was counted
 *   throughout, and free throughout (a block claimed and republished
 *   moves the epoch): there is none. Otherwise the pass is repeated.
 *   The hinted passes before it are only a fast path. buddy_alloc_bulk()
 *   returns 0 only under the same rule (its last pass takes one block).
 *
 * SEARCH
 *   Fast and full passes. An allocation first makes a fast pass: in each
 *   order, a window of FAST_WORDS map words from this CPU's hint. Each
 *   CPU's hints start in a different place and then follow the blocks the
 *   CPU publishes (the upper halves of its splits, the blocks it frees),
 *   so it finds its own free blocks first and CPUs keep to their own map
 *   words. Only if no order has a block in the window does it make full
 *   passes, which tidy hints and may conclude that memory is exhausted.
 *   A fast pass may split a larger nearby block while a smaller one is
 *   free far away: a little fragmentation, for a short, private search.
 *
 *   Why it is built this way (each measured on the 2-core machine with
 *   bench/frame_bench, which the benchmark suite has since replaced; see
 *   docs/MEASUREMENTS.md): scanning whole maps made every allocation pay for
 *   hints left stale by merges (about 1 us per operation on a 20 GiB zone);
 *   clearing hints eagerly as blocks came and went made CPUs fight over
 *   summary words, each covering 4096 blocks (2 threads ran 2.7 to 5 times
 *   slower per thread than 1); and windows as large as a whole small map
 *   sent every CPU to the same few leftover blocks. Hence: small windows,
 *   hints that follow the CPU, and no hint writes on the fast path.

 * ZEROED BLOCKS (like Xen's first_dirty)
 *   PF_ZEROED lives on the head descriptor of a free block. Only the
 *   scrubber frees zeroed blocks, and it sets any_zeroed before publishing
 *   one. A merge or split reads any_zeroed after the CAS that gave it its
 *   block, so if it reads false, no block it touches was ever marked and
 *   all flags are clear: the common case touches no descriptor at all.
 *   Otherwise: merged = both halves zeroed; split halves copy the parent.
 *
 * FREE COUNT
 *   The frames in free blocks that are published: two per-CPU counters,
 *   summed on demand, free = sum(added) - sum(taken). Every claim (an
 *   allocation's, a merge's claim of the buddy) adds to `taken` before
 *   its CAS, giving the frames back if the CAS does not take them; every
 *   publish (a free's final block, a split's upper halves) adds to `added`
 *   after the bits are set. So, taken at one instant, the sum never
 *   exceeds what the maps hold and never counts frames in transit; at
 *   quiescence it is exact (buddy_validate checks). A racy read, one CPU's
 *   counters after another's, can be off either way by the operations that
 *   ran meanwhile (an allocation on a CPU already read and a free on one
 *   not yet read overcount): reserve checks (frame.c) accept that much. `added` is also the
 *   publish epoch of COMPLETENESS.
 */
#include <string.h>

#include "kernel/lib/pause.h"
#include "kernel/mm/buddy.h"
#include "kernel/mm/page.h"

#define FAST_WORDS   16  /* map words (two cache lines) a fast pass looks at */

/* ------------------------------------------------------------ helpers */

static uint64_t block_pfn(const struct buddy *b, uint64_t idx, unsigned k)
{
	return b->base + (idx << k);
}

static uint64_t block_idx(const struct buddy *b, uint64_t pfn, unsigned k)
{
	return (pfn - b->base) >> k;
}

static uint64_t bit_of(uint64_t idx)
{
	return UINT64_C(1) << (idx % 64);
}

/*
 * FREE COUNT: frames leave the count before the CAS that claims them
 * (frames < 0: a claim that failed gives them back) ... Only the
 * statistics and reserve checks read `taken` (buddy_free_pages()); no
 * proof rests on its order, so sequential consistency here only keeps
 * the counters' reads and writes in program order around the claim.
 */
static void count_taken(struct buddy *b, int64_t frames)
{
	atomic_fetch_add_explicit(&b->cpu[cpu_id()].taken, frames,
				  memory_order_seq_cst);
}

/*
 * ... and join it after the step that published them. Sequentially
 * consistent: the publish happens-before any read of the epoch that sees
 * this add (COMPLETENESS).
 */
static void count_added(struct buddy *b, uint64_t frames)
{
	atomic_fetch_add_explicit(&b->cpu[cpu_id()].added, frames,
				  memory_order_seq_cst);
}

/* Frames ever published (the publish epoch: it only grows). */
static uint64_t publish_epoch(const struct buddy *b)
{
	uint64_t sum = 0;

	for (unsigned c = 0; c < ncpus(); c++)
		sum += atomic_load_explicit(&b->cpu[c].added,
					    memory_order_seq_cst);
	return sum;
}

static bool head_zeroed(uint64_t pfn)
{
	return ps_flags(page_state(pfn_to_page(PFN(pfn)))) & PF_ZEROED;
}

/* Write a free head's descriptor (only when zeroed flags are in use). */
static void set_head(uint64_t pfn, bool zeroed)
{
	page_set_state(pfn_to_page(PFN(pfn)),
		       ps_make(0, PAGE_NONE, 0, zeroed ? PF_ZEROED : 0));
}

/* Read after the CAS that handed us a block: see ZEROED BLOCKS above. */
static bool zeroed_in_use(const struct buddy *b)
{
	return atomic_load_explicit(&b->any_zeroed, memory_order_relaxed);
}

/* ------------------------------------------------------------ summary */

/* Word w of map k just got a bit: make the hints say so. */
static void note_nonempty(struct buddy *b, unsigned k, uint64_t w)
{
	struct freemap *m = &b->map[k];
	_Atomic uint64_t *s = &m->summary[w / 64];
	uint64_t sbit = bit_of(w);

	if (!(atomic_load(s) & sbit))
		atomic_fetch_or(s, sbit);
	if (!(atomic_load(&b->nonempty) & (1u << k)))
		atomic_fetch_or(&b->nonempty, 1u << k);
}

/*
 * Word w of map k looked empty: clear its summary bit, then re-check. If
 * a block arrived meanwhile, its publisher may have seen the summary and
 * order bits still set and written neither, and the order bit may have
 * been cleared since by a search that trusted our cleared summary bit:
 * so set both back, as a publisher would (HINTS).
 */
static void note_empty_word(struct buddy *b, unsigned k, uint64_t w)
{
	struct freemap *m = &b->map[k];

	PAUSE("buddy.empty_word.before_clear");
	atomic_fetch_and(&m->summary[w / 64], ~bit_of(w));
	PAUSE("buddy.empty_word.cleared");
	if (atomic_load(&m->bits[w]) != 0)
		note_nonempty(b, k, w);
}

/* A full scan of map k found nothing: clear its order bit, re-check. */
static void note_empty_map(struct buddy *b, unsigned k)
{
	struct freemap *m = &b->map[k];

	atomic_fetch_and(&b->nonempty, ~(1u << k));
	for (uint64_t i = 0; i < m->nsum; i++) {
		if (atomic_load(&m->summary[i]) != 0) {
			atomic_fetch_or(&b->nonempty, 1u << k);
			return;
		}
	}
}

/* ----------------------------------------------------------- claiming */

/* The lowest (at most) want set bits of v. */
static uint64_t lowest_bits(uint64_t v, unsigned want)
{
	uint64_t take = 0;

	for (unsigned i = 0; i < want && v != 0; i++) {
		take |= v & -v;
		v &= v - 1;
	}
	return take;
}

/*
 * Claim up to want set bits of word w of map k (the lowest ones) with one
 * CAS, their frames taken out of the free count first. Returns the bits
 * claimed (0 if the word was or became empty). In a full search (tidy), a
 * word left empty gets its summary bit cleared.
 * Acquire: we will read the blocks' head descriptors.
 */
static uint64_t claim_in_word(struct buddy *b, unsigned k, uint64_t w,
			      unsigned want, bool tidy)
{
	_Atomic uint64_t *word = &b->map[k].bits[w];
	uint64_t v = atomic_load_explicit(word, memory_order_relaxed);
	int64_t held = 0; /* frames taken out of the count for this claim */

	while (v != 0) {
		uint64_t take = lowest_bits(v, want);
		int64_t need = (int64_t)__builtin_popcountll(take) << k;

		if (need != held) {
			count_taken(b, need - held);
			held = need;
		}
		if (atomic_compare_exchange_weak_explicit(
			    word, &v, v & ~take, memory_order_acq_rel,
			    memory_order_relaxed)) {
			if (tidy && (v & ~take) == 0)
				note_empty_word(b, k, w); /* took its last bit */
			return take;
		}
	}
	if (held != 0)
		count_taken(b, -held);
	if (tidy)
		note_empty_word(b, k, w);
	return 0;
}

/*
 * Search summary words [from, to) of map k for a word with a set bit and
 * claim up to want bits there. Returns the claimed bits, *word = the word.
 */
static uint64_t search_range(struct buddy *b, unsigned k, uint64_t from,
			     uint64_t to, unsigned want, bool tidy,
			     uint64_t *word)
{
	struct freemap *m = &b->map[k];

	for (uint64_t w = from; w < to;) {
		uint64_t s = atomic_load(&m->summary[w / 64]) >> (w % 64);

		if (s == 0) {
			w = ALIGN_DOWN(w, 64) + 64;
			continue;
		}
		w += (uint64_t)__builtin_ctzll(s);
		if (w >= to)
			break;
		uint64_t got = claim_in_word(b, k, w, want, tidy);
		if (got != 0) {
			*word = w;
			return got;
		}
		w++;
	}
	return 0;
}

/*
 * Claim up to want free blocks of order k from one word of its map,
 * starting at this CPU's hint: in a window of FAST_WORDS words, or (full)
 * in the whole map. Returns the claimed bits and their word.
 */
static uint64_t claim(struct buddy *b, unsigned k, unsigned want, bool full,
		      uint64_t *word)
{
	struct freemap *m = &b->map[k];
	_Atomic uint32_t *hint = &b->cpu[cpu_id()].hint[k];
	uint64_t start = atomic_load_explicit(hint, memory_order_relaxed);
	uint64_t got;

	if (start >= m->nwords)
		start = 0;
	if (full) {
		got = search_range(b, k, start, m->nwords, want, true, word);
		if (got == 0)
			got = search_range(b, k, 0, start, want, true, word);
	} else {
		uint64_t end = MIN(start + FAST_WORDS, m->nwords);

		got = search_range(b, k, start, end, want, false, word);
		if (got == 0 && start + FAST_WORDS > m->nwords)
			got = search_range(b, k, 0,
					   MIN(start, start + FAST_WORDS -
							      m->nwords),
					   want, false, word);
	}
	if (got != 0)
		atomic_store_explicit(hint, (uint32_t)*word,
				      memory_order_relaxed);
	return got;
}

/* ------------------------------------------------------------ publish */

/*
 * This CPU just published a block in word w of map k: look there first
 * next time (a private store; keeps searches near this CPU's own blocks).
 */
static void point_hint(struct buddy *b, unsigned k, uint64_t w)
{
	atomic_store_explicit(&b->cpu[cpu_id()].hint[k], (uint32_t)w,
			      memory_order_relaxed);
}

/*
 * Publish an upper half created by a split. Its buddy (the lower half) is
 * ours, so no merge is possible: a fetch-or suffices. Sequentially
 * consistent: it releases the head's flags written before, and it must
 * precede the summary load in note_nonempty() (SEARCH; free on x86, where
 * every locked instruction is a full fence).
 */
static void publish_split(struct buddy *b, unsigned k, uint64_t idx,
			  bool zeroed_mode, bool zeroed)
{
	struct freemap *m = &b->map[k];

	if (zeroed_mode)
		set_head(block_pfn(b, idx, k), zeroed);
	atomic_fetch_or_explicit(&m->bits[idx / 64], bit_of(idx),
				 memory_order_seq_cst);
	note_nonempty(b, k, idx / 64);
	point_hint(b, k, idx / 64);
}

/*
 * We own block (idx, j): split it down to order k, keep the lowest part.
 * The upper halves join the free count once all are published.
 */
static uint64_t split(struct buddy *b, uint64_t idx, unsigned j, unsigned k)
{
	bool mode = zeroed_in_use(b);
	bool z = mode && head_zeroed(block_pfn(b, idx, j));
	uint64_t halves = (UINT64_C(1) << j) - (UINT64_C(1) << k);

	PAUSE("buddy.split.claimed");
	while (j > k) {
		j--;
		idx <<= 1;
		publish_split(b, j, idx + 1, mode, z);
	}
	if (halves != 0)
		count_added(b, halves);
	return block_pfn(b, idx, k);
}

/*
 * One step of a free at order k, on the word holding block idx and its
 * buddy: if the buddy is free, claim it (its frames leave the count first)
 * and return true; else publish block idx and return false. One CAS
 * decides (see INVARIANT above).
 */
static bool merge_or_publish(struct buddy *b, uint64_t idx, unsigned k,
			     bool zeroed)
{
	_Atomic uint64_t *word = &b->map[k].bits[idx / 64];
	uint64_t mine = bit_of(idx), buddy = bit_of(idx ^ 1);
	uint64_t v = atomic_load_explicit(word, memory_order_relaxed);
	int64_t size = INT64_C(1) << k;
	bool held = false; /* the buddy's frames are out of the count */

	if (k == BUDDY_MAX_ORDER)
		buddy = 0; /* the top order does not merge */
	for (;;) {
		if (v & buddy) {
			if (!held)
				count_taken(b, size);
			held = true;
			if (atomic_compare_exchange_weak_explicit(
				    word, &v, v & ~buddy, memory_order_acq_rel,
				    memory_order_relaxed))
				return true;
			continue;
		}
		if (held)
			count_taken(b, -size); /* the buddy went: not ours */
		held = false;
		if (zeroed_in_use(b))
			set_head(block_pfn(b, idx, k), zeroed);
		/* Sequentially consistent, as in publish_split(). */
		if (atomic_compare_exchange_weak_explicit(
			    word, &v, v | mine, memory_order_seq_cst,
			    memory_order_relaxed))
			return false;
	}
}

/*
 * Free block (idx, k), merging upwards: the merged block is in transit
 * (ours alone, out of the count) until it is published.
 */
static void free_block(struct buddy *b, uint64_t idx, unsigned k, bool zeroed)
{
	for (;;) {
		if (!merge_or_publish(b, idx, k, zeroed)) {
			note_nonempty(b, k, idx / 64);
			point_hint(b, k, idx / 64);
			count_added(b, UINT64_C(1) << k);
			return;
		}
		PAUSE("buddy.free.merged");
		if (zeroed && zeroed_in_use(b))
			zeroed = head_zeroed(block_pfn(b, idx ^ 1, k));
		else
			zeroed = false;
		idx >>= 1;
		k++;
	}
}

/* -------------------------------------------------------- the locked mode */

static irqflags_t op_begin(struct buddy *b) NO_THREAD_SAFETY_ANALYSIS
{
	irqflags_t f = { 0 };

	if (b->locked)
		f = spin_lock_irqsave(&b->lock);
	return f;
}

static void op_end(struct buddy *b, irqflags_t f) NO_THREAD_SAFETY_ANALYSIS
{
	if (b->locked)
		spin_unlock_irqrestore(&b->lock, f);
}

/* ---------------------------------------------------------------- API */

/*
 * Bytes of an array of n words, rounded up to whole cache lines: every map
 * and every summary starts on a line of its own, so a CPU working on the
 * last words of one array never shares a line with CPUs reading the next
 * (measured: without this, 2 threads ran at the speed of 1).
 */
static uint64_t line_words(uint64_t n)
{
	return ALIGN_UP(n * sizeof(uint64_t), CACHELINE);
}

uint64_t buddy_metadata_bytes(uint64_t npages)
{
	uint64_t bytes = MAX_CPUS * sizeof(struct buddy_cpu);

	for (unsigned k = 0; k < BUDDY_ORDERS; k++) {
		uint64_t nwords = ((npages >> k) + 63) / 64;
		uint64_t nsum = (nwords + 63) / 64;

		bytes += line_words(nwords) + line_words(nsum);
	}
	return bytes;
}

/*
 * Each CPU starts searching at its own place in every map, so CPUs split
 * different blocks and do not share map or summary words (a multiplicative
 * hash of the CPU id spreads any number of CPUs evenly).
 */
static void spread_hints(struct buddy *b)
{
	for (unsigned c = 0; c < MAX_CPUS; c++)
		for (unsigned k = 0; k < BUDDY_ORDERS; k++)
			atomic_init(&b->cpu[c].hint[k],
				    (uint32_t)(((uint64_t)c * 0x9e3779b97f4a7c15u >> 32) *
					       b->map[k].nwords >> 32));
}

void buddy_init(struct buddy *b, pfn_t base, uint64_t npages, void *meta,
		bool locked)
{
	uint8_t *p = meta;

	ASSERT(IS_ALIGNED((uintptr_t)meta, CACHELINE));
	ASSERT(IS_ALIGNED(base.v, BUDDY_MAX_PAGES));
	ASSERT(IS_ALIGNED(npages, BUDDY_MAX_PAGES));
	memset(meta, 0, buddy_metadata_bytes(npages));
	b->base = base.v;
	b->npages = npages;
	b->cpu = (struct buddy_cpu *)p;
	p += MAX_CPUS * sizeof(struct buddy_cpu);
	for (unsigned k = 0; k < BUDDY_ORDERS; k++) {
		struct freemap *m = &b->map[k];

		m->nwords = ((npages >> k) + 63) / 64;
		m->nsum = (m->nwords + 63) / 64;
		m->bits = (_Atomic uint64_t *)p;
		p += line_words(m->nwords);
		m->summary = (_Atomic uint64_t *)p;
		p += line_words(m->nsum);
	}
	spread_hints(b);
	atomic_init(&b->nonempty, 0);
	atomic_init(&b->any_zeroed, false);
	b->locked = locked;
	spin_lock_init(&b->lock, "buddy.zone");
}

/*
 * One pass over orders >= k, lowest first: fast (a window per order) or
 * full (every map, clearing order bits of maps found empty).
 */
static bool alloc_pass(struct buddy *b, unsigned k, bool full, pfn_t *out)
{
	uint32_t orders = atomic_load(&b->nonempty) & (~0u << k);

	while (orders != 0) {
		unsigned j = (unsigned)__builtin_ctz(orders);
		uint64_t word, got;

		orders &= orders - 1;
		got = claim(b, j, 1, full, &word);
		if (got != 0) {
			uint64_t idx = word * 64 + (uint64_t)__builtin_ctzll(got);

			*out = PFN(split(b, idx, j, k));
			return true;
		}
		if (full)
			note_empty_map(b, j);
	}
	return false;
}

/*
 * Claim the first free block of order >= k found by reading every word of
 * every such map, hints ignored. It leaves hints alone: whoever made one
 * stale-negative is bound to repair it (HINTS).
 */
static bool claim_any(struct buddy *b, unsigned k, unsigned *order,
		      uint64_t *idx)
{
	for (unsigned j = k; j < BUDDY_ORDERS; j++) {
		struct freemap *m = &b->map[j];

		for (uint64_t w = 0; w < m->nwords; w++) {
			uint64_t got;

			if (atomic_load_explicit(&m->bits[w],
						 memory_order_relaxed) == 0)
				continue;
			got = claim_in_word(b, j, w, 1, false);
			if (got == 0)
				continue;
			*order = j;
			*idx = w * 64 + (uint64_t)__builtin_ctzll(got);
			return true;
		}
	}
	return false;
}

/*
 * The passes of an allocation that the hints could not satisfy: hint-free
 * passes until one finds a block, or one finds none while nothing was
 * published (COMPLETENESS).
 */
static bool alloc_last_pass(struct buddy *b, unsigned k, pfn_t *out)
{
	for (;;) {
		uint64_t epoch = publish_epoch(b), idx;
		unsigned j;

		PAUSE("buddy.alloc.last_pass");
		if (claim_any(b, k, &j, &idx)) {
			*out = PFN(split(b, idx, j, k));
			return true;
		}
		PAUSE("buddy.alloc.last_pass_found_none");
		if (publish_epoch(b) == epoch)
			return false;
	}
}

bool buddy_alloc(struct buddy *b, unsigned order, pfn_t *out)
{
	irqflags_t f = op_begin(b);
	bool ok;

	ASSERT(order <= BUDDY_MAX_ORDER);
	ok = alloc_pass(b, order, false, out) ||
	     alloc_pass(b, order, true, out) ||
	     alloc_last_pass(b, order, out);
	op_end(b, f);
	return ok;
}

/* Claim one block of order >= j and carve it into order-k pieces. */
static unsigned carve(struct buddy *b, unsigned j, unsigned k, bool full,
		      pfn_t *out)
{
	pfn_t big;
	uint64_t n = UINT64_C(1) << (j - k);
	bool mode, z;

	if (!alloc_pass(b, j, full, &big))
		return 0;
	mode = zeroed_in_use(b);
	z = mode && head_zeroed(big.v);
	for (uint64_t i = 0; i < n; i++) {
		out[i] = PFN(big.v + (i << k));
		if (mode && i > 0)
			set_head(out[i].v, z);
	}
	return (unsigned)n;
}

/*
 * One pass of a bulk allocation: whole words of the order's map first,
 * then the largest blocks that can be carved without overshooting.
 */
static unsigned bulk_pass(struct buddy *b, unsigned order, unsigned n,
			  bool full, pfn_t *out)
{
	unsigned got = 0;

	while (got < n) {
		uint64_t word, bits = claim(b, order, n - got, full, &word);

		if (bits == 0)
			break;
		for (; bits != 0; bits &= bits - 1)
			out[got++] = PFN(block_pfn(b, word * 64 +
						   (uint64_t)__builtin_ctzll(bits),
						   order));
	}
	while (got < n) {
		unsigned span = 63 - (unsigned)__builtin_clzll(n - got);
		unsigned top = MIN(order + span, (unsigned)BUDDY_MAX_ORDER);
		unsigned c = 0;

		/* carve(j) searches orders >= j, so each j adds one map. */
		for (unsigned j = top + 1; j-- > order && c == 0;)
			c = carve(b, j, order, full, out + got);
		if (c == 0)
			break;
		got += c;
	}
	return got;
}

unsigned buddy_alloc_bulk(struct buddy *b, unsigned order, unsigned n,
			  pfn_t *out)
{
	irqflags_t f = op_begin(b);
	unsigned got = 0;

	ASSERT(order <= BUDDY_MAX_ORDER && n > 0);
	for (unsigned pass = 0; pass < 2 && got < n; pass++)
		got += bulk_pass(b, order, n - got, pass > 0, out + got);
	if (got == 0 && alloc_last_pass(b, order, out))
		got = 1;
	op_end(b, f);
	return got;
}

void buddy_free(struct buddy *b, pfn_t pfn, unsigned order, bool zeroed)
{
	irqflags_t f = op_begin(b);

	ASSERT(order <= BUDDY_MAX_ORDER);
	ASSERT(pfn.v >= b->base && pfn.v + (UINT64_C(1) << order) <=
					   b->base + b->npages);
	ASSERT(IS_ALIGNED(pfn.v - b->base, UINT64_C(1) << order));
	if (zeroed && !zeroed_in_use(b)) {
		/* Before the block is published: see ZEROED BLOCKS. */
		atomic_store(&b->any_zeroed, true);
	}
	free_block(b, block_idx(b, pfn.v, order), order, zeroed);
	op_end(b, f);
}

/* Length of the run of adjacent blocks starting at p[i], either direction. */
static unsigned run_length(const pfn_t *p, unsigned i, unsigned n,
			   uint64_t size, int *dir)
{
	unsigned len = 1;

	*dir = 0;
	if (i + 1 < n) {
		if (p[i + 1].v == p[i].v + size)
			*dir = 1;
		else if (p[i + 1].v + size == p[i].v)
			*dir = -1;
	}
	if (*dir == 0)
		return 1;
	while (i + len < n &&
	       p[i + len].v == (uint64_t)((int64_t)p[i].v +
					   *dir * (int64_t)(len * size)))
		len++;
	return len;
}

/* Free frames [s, e) as the largest aligned blocks (all ours, order >= k). */
static void free_run(struct buddy *b, uint64_t s, uint64_t e, bool zeroed)
{
	while (s < e) {
		uint64_t rel = s - b->base;
		unsigned align = rel == 0 ? BUDDY_MAX_ORDER
					  : (unsigned)__builtin_ctzll(rel);
		unsigned fit = 63 - (unsigned)__builtin_clzll(e - s);
		unsigned order = MIN(MIN(align, fit), (unsigned)BUDDY_MAX_ORDER);

		free_block(b, block_idx(b, s, order), order, zeroed);
		s += UINT64_C(1) << order;
	}
}

void buddy_free_bulk(struct buddy *b, pfn_t *pfns, unsigned n, unsigned order)
{
	uint64_t size = UINT64_C(1) << order;
	irqflags_t f = op_begin(b);
	bool mode = zeroed_in_use(b);

	for (unsigned i = 0; i < n;) {
		int dir;
		unsigned len = run_length(pfns, i, n, size, &dir);
		uint64_t lo = dir >= 0 ? pfns[i].v : pfns[i + len - 1].v;
		bool z = mode;

		/* A merged run is zeroed only if every piece is. */
		for (unsigned j = i; j < i + len && z; j++)
			z = head_zeroed(pfns[j].v);
		free_run(b, lo, lo + len * size, z);
		i += len;
	}
	op_end(b, f);
}

int64_t buddy_free_pages(const struct buddy *b)
{
	int64_t sum = 0;

	for (unsigned c = 0; c < ncpus(); c++)
		sum += (int64_t)atomic_load_explicit(&b->cpu[c].added,
						     memory_order_relaxed) -
		       atomic_load_explicit(&b->cpu[c].taken,
					    memory_order_relaxed);
	return sum;
}

/* --------------------------------------------------------- validation */

static bool bit_set(const struct freemap *m, uint64_t idx)
{
	return (atomic_load_explicit(&m->bits[idx / 64], memory_order_relaxed) &
		bit_of(idx)) != 0;
}

int buddy_free_order_at(const struct buddy *b, pfn_t pfn)
{
	uint64_t rel;

	if (pfn.v < b->base || pfn.v >= b->base + b->npages)
		return -1;
	rel = pfn.v - b->base;
	for (unsigned k = 0; k < BUDDY_ORDERS; k++) {
		if (!IS_ALIGNED(rel, UINT64_C(1) << k))
			break;
		if (bit_set(&b->map[k], rel >> k))
			return (int)k;
	}
	return -1;
}

void buddy_count(const struct buddy *b, uint64_t pages[BUDDY_ORDERS])
{
	for (unsigned k = 0; k < BUDDY_ORDERS; k++) {
		const struct freemap *m = &b->map[k];

		pages[k] = 0;
		for (uint64_t w = 0; w < m->nwords; w++)
			pages[k] += (uint64_t)__builtin_popcountll(
					    atomic_load(&m->bits[w])) << k;
	}
}

/* No set bit of a higher order covers block (idx, k). */
static bool uncovered(const struct buddy *b, uint64_t idx, unsigned k)
{
	for (unsigned j = k + 1; j < BUDDY_ORDERS; j++)
		if (bit_set(&b->map[j], idx >> (j - k)))
			return false;
	return true;
}

static bool validate_map(const struct buddy *b, unsigned k)
{
	const struct freemap *m = &b->map[k];
	const uint64_t pairs = UINT64_C(0x5555555555555555);
	bool any = false;

	for (uint64_t w = 0; w < m->nwords; w++) {
		uint64_t v = atomic_load(&m->bits[w]);

		if (v == 0)
			continue;
		any = true;
		if (!(atomic_load(&m->summary[w / 64]) & bit_of(w))) {
			klog("buddy: order %u word %llu set, summary clear", k,
			     (unsigned long long)w);
			return false;
		}
		if (k < BUDDY_MAX_ORDER && (v & (v >> 1) & pairs) != 0) {
			klog("buddy: order %u word %llu has free buddies %#llx",
			     k, (unsigned long long)w, (unsigned long long)v);
			return false;
		}
		for (uint64_t bits = v; bits != 0; bits &= bits - 1) {
			uint64_t idx = w * 64 + (uint64_t)__builtin_ctzll(bits);

			if (block_pfn(b, idx + 1, k) > b->base + b->npages ||
			    !uncovered(b, idx, k)) {
				klog("buddy: block %llu order %u overlaps or "
				     "overflows", (unsigned long long)idx, k);
				return false;
			}
		}
	}
	if (any && !(atomic_load(&b->nonempty) & (1u << k))) {
		klog("buddy: order %u has blocks, order bit clear", k);
		return false;
	}
	return true;
}

bool buddy_validate(const struct buddy *b)
{
	uint64_t pages[BUDDY_ORDERS], total = 0;

	for (unsigned k = 0; k < BUDDY_ORDERS; k++)
		if (!validate_map(b, k))
			return false;
	buddy_count(b, pages);
	for (unsigned k = 0; k < BUDDY_ORDERS; k++)
		total += pages[k];
	if ((int64_t)total != buddy_free_pages(b)) {
		klog("buddy: maps hold %llu free frames, counters say %lld",
		     (unsigned long long)total, (long long)buddy_free_pages(b));
		return false;
	}
	return true;
}

/*
 * For benchmarks that report fragmentation (frame/mixed): the highest
 * order with a set bit. Racy, as buddy_count(): a block in transit inside
 * an operation is in no map, so a sample taken while others run may read
 * an order lower than the quiescent one. Kept apart from the maps' users
 * above: it only reads them.
 */
int buddy_largest_free_order(const struct buddy *b)
{
	for (unsigned k = BUDDY_ORDERS; k-- > 0;) {
		const struct freemap *m = &b->map[k];

		for (uint64_t w = 0; w < m->nwords; w++)
			if (atomic_load_explicit(&m->bits[w],
						 memory_order_relaxed) != 0)
				return (int)k;
	}
	return -1;
}
