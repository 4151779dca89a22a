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
 * stale-negative only transiently (see HINTS).
 *
 * Memory is cut into AREAS, the blocks of the top order (4 MiB). Each CPU
 * works in an area of its own (SEARCH) and frees into it lazily (LAZY
 * MERGING); the maps are laid out so that areas share no cache line below
 * order 5 (LAYOUT).
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
 *   lazy      OWNED -> FREE          a free into the CPU's own area: a
 *                                    fetch-or of the block's bit, whatever
 *                                    its buddy's state (LAZY MERGING)
 *   coalesce  two FREE buddies ->    one CAS clearing both bits (they share
 *             OWNED parent           a word); the parent is then freed
 *                                    by the merging path (merge_up), never
 *                                    lazily
 *
 * INVARIANT (checked by buddy_validate): two buddies below the top order
 * are both FREE only inside an area that some CPU works in (the area in
 * its cpu[] slot: a CPU that went offline keeps one), and only after
 * that CPU freed one of them lazily. Everywhere else a block is published
 * only by a CAS that saw the buddy's bit clear (else it merges instead),
 * and a split publishes an upper half while owning its buddy, so the
 * "missed merge" race (two buddies freed at once, each seeing the other
 * not yet free) cannot occur: the second of the two CASes on their shared
 * word sees the first one's bit and merges. LAZY MERGING says when the
 * pairs inside areas are merged; after buddy_coalesce() at quiescence
 * there are none: memory is fully coalesced.
 *
 * LINEARISATION POINTS
 *   alloc: the claim CAS (at the order it found a block in; the split that
 *          follows only publishes halves the caller does not get).
 *   free:  the publish CAS of the final, merged block; a lazy free's
 *          fetch-or.
 *   a failing alloc: the end of its last pass (COMPLETENESS).
 *
 * WHY RETRIES END (lock-freedom)
 *   A claim CAS fails only if its word changed, i.e. another operation
 *   changed the map: some thread progressed. A free's CAS fails likewise.
 *   A free merges at most BUDDY_MAX_ORDER times. A coalesce CAS fails
 *   only if its word changed; each one that succeeds removes a pair, and
 *   a word has at most 32. A hinted pass visits each summary word once.
 *   An allocation searches its area (twice if it coalesces it between),
 *   then elsewhere, then makes a full pass and last passes (COMPLETENESS),
 *   each of which ends the allocation unless a block was published while
 *   it ran: another operation's progress, or its own merges (the pass
 *   after one that merged finds only pairs made since, by others). A
 *   bulk allocation's loop ends because each round takes at least one
 *   block. (Not wait-free: a CPU can keep losing blocks to others.)
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
 *   block of order >= k was free and counted (FREE COUNT), and no two
 *   free buddies below k were (lazy frees leave such pairs: LAZY
 *   MERGING). Blocks in transit, i.e. claimed by a merge, a coalesce or
 *   a split that has not yet published its result, belong to that operation and are neither free nor
 *   counted: an interrupt that lands on a CPU in the middle of a merge
 *   cannot have the frames that merge holds, and the count says so.
 *   The last pass first merges every free pair below order k, bottom-up
 *   (coalesce_below: each merge publishes, so it moves the epoch), then
 *   reads every word of every map of order >= k, ignoring hints, and
 *   claims the first set bit it finds. Around it, it reads the
 *   publish epoch (the sum of the per-CPU `added` counters, which only
 *   grow). A block B free and counted for the whole pass is found: its
 *   publish happened before the add that the first epoch read saw (the
 *   counters are sequentially consistent), so the scan reads B's word
 *   after B's bit was set and, B staying free, its CAS loop ends with B.
 *   If the pass found nothing and the epoch did not move, nothing was
 *   counted during the pass, so a block counted at its end was counted
 *   throughout, and free throughout (a block claimed and republished
 *   moves the epoch): there is none. Likewise for a pair of buddies
 *   below k free for the whole pass: the coalesce reads their word after
 *   both bits were set and, unless one is claimed (then it is no longer
 *   a pair), merges them, and the merge's publish moves the epoch. So a
 *   pass that moved no epoch saw no such pair. Otherwise the pass is
 *   repeated.
 *   The hinted passes before it are only a fast path. buddy_alloc_bulk()
 *   returns 0 only under the same rule (its last pass takes one block).
 *
 * SEARCH
 *   An allocation looks in three scopes, each only if the one before
 *   found nothing:
 *   1. IN_AREA: this CPU's area, in each order from k up, lowest first:
 *      the area's words of the map (orders 0-4: 16 >> k words) or its
 *      bits of one word (orders 5-10). The CPU finds what it split there
 *      and what it freed there since. Only if the area is still the CPU's
 *      own: owner[] records, per area, the last CPU that moved into it
 *      (a hint, written by buddy_init() and when a CPU adopts an area),
 *      so two CPUs that met in one area part at the next allocation of
 *      the one that lost. area_orders, a private hint of the CPU, skips
 *      the orders an area search last found empty (set again when the
 *      CPU publishes into its area at that order). If nothing is found
 *      and the CPU freed lazily into the area since it last merged it, it
 *      merges the area at those orders (LAZY MERGING) and looks again.
 *   2. ELSEWHERE: a whole free area first (a window of FAST_WORDS words of
 *      the top order's map from this CPU's hint), then windows of the
 *      lower orders. The area of the block found becomes the CPU's own
 *      (adopt_area), and the area it leaves is merged.
 *   3. FULL passes, which tidy hints, then the last passes (COMPLETENESS).
 *      A block they find moves the CPU's area too.
 *   LARGE blocks, of orders 9 and 10, are half an area or a whole one:
 *   for them there is nothing to keep near, so their allocations look in
 *   windows (WINDOWS: lowest order first, from this CPU's hints; at order
 *   9 two words only, see window_words()) and move no area, and their
 *   frees merge at once. (With areas, a top-order
 *   allocation cost a failed area search and a move: 0.35-0.48x of
 *   933f143's throughput in bulk at 20 GiB; an order-9 one moved the CPU
 *   every second allocation: 0.7x of 933f143's at one thread.)
 *   Bulk allocations (cache refills) take, in the area, every free block
 *   that fits whole, smallest order first and whole words at a time
 *   (lazy frees leave an area's free memory in blocks of many orders),
 *   then split a larger block for what is missing, unless half of what
 *   was asked for is there already; then one carve elsewhere, which moves
 *   the area, and go on in the new area. Blocks of at least half an area
 *   (orders 9 and 10) are taken in windows, several per claim.
 *
 *   Why (measured on the 2-core machine, issue 11): before areas, a fast
 *   pass looked at the lowest order first, in windows of 16 words from
 *   hints that followed the blocks the CPU published. From order 4 up a
 *   window spans hundreds of megabytes, so a CPU found the upper halves
 *   another CPU had just published from its split and took them; its
 *   hints followed, and from then on the CPUs worked in the same words
 *   (in a debugger: two CPUs with the same hints at orders 0-5). Two
 *   threads without caches did less work than one. An area is the unit
 *   LLFree (USENIX ATC '23) reserves per CPU, in buddy terms: a CPU keeps
 *   to its own top-order block until it is used up. Unlike an LLFree
 *   reservation it owns nothing: its blocks are in the maps, free to any
 *   CPU's full and last passes, so nothing is stranded.
 *
 *   Earlier measurements (bench/frame_bench, see docs/MEASUREMENTS.md)
 *   shaped the hints: scanning whole maps made every allocation pay for
 *   hints left stale by merges (about 1 us per operation on a 20 GiB
 *   zone); clearing hints eagerly as blocks came and went made CPUs fight
 *   over summary words; so hints are tidied only by full passes.
 *
 * LAYOUT
 *   Two CPUs in different areas must not share a cache line of any map
 *   they write. Orders 0 and 1 are plain arrays: an area's 16 or 8 words
 *   fill whole lines. From order 2 up, map_word() gives each line only one
 *   area's words (order 2: four words, order 3: two, order 4 and above:
 *   one word, and the rest of the line unused). From order 5 up a word
 *   covers several areas (order 10: 64), so CPUs share a word there only
 *   if their areas are that close. Cost: 0.44 bytes of maps per frame
 *   instead of 0.25 (2.2 MiB for 20 GiB instead of 1.3 MiB).
 *
 * LAZY MERGING
 *   A free into this CPU's own area (free_block) publishes the block as
 *   it is: one fetch-or, even if its buddy is free, and no merges; the
 *   next allocation of that order in the area takes it back with one CAS.
 *   That is what makes a CPU's alloc-free cycle cost two atomic steps on
 *   its own cache lines instead of a split and a merge through up to ten
 *   orders, each an atomic step. It leaves pairs of free buddies in the
 *   area. They are merged (coalesce_word: one CAS claims both, the parent
 *   is freed and merges on upwards, as any free):
 *   - when the CPU leaves the area (adopt_area), at the orders it freed
 *     lazily into it since the last merge (the area word keeps them, so
 *     one exchange takes the old area and its orders together; pairs
 *     arise only at the order of a lazy free, so only those orders are
 *     swept);
 *   - when an allocation finds nothing in the area and it has such
 *     orders;
 *   - in every allocation's last pass, below the order asked for;
 *   - by buddy_coalesce(), which the frame layer calls at quiescence
 *     (frame_coalesce(): benchmarks between runs, self-tests at the end).
 *   Frees anywhere else, and every free of a LARGE block, merge at once
 *   as before. So at quiescence free pairs lie only in areas that
 *   are some CPU's, and after buddy_coalesce() there are none.
 *   The race: a free checks that the block is in its area, and before its
 *   fetch-or, an interrupt on this CPU allocates, moves the CPU to another
 *   area and merges the old one; then the publish leaves a pair in an
 *   area nobody works in. So after the fetch-or the free marks its order
 *   with one atomic step that also returns the area the mark is on. If
 *   that is the block's area, whatever later takes the mark off (a move
 *   away, a merge of the area) merges the area after the publish; if not,
 *   the free merges its own word at once. (Reading the area again instead
 *   is not enough: two interrupts can move the CPU away and back, the
 *   second time to the area without its mark.)

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

#define FAST_WORDS 16 /* map words a window search looks at */

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

#define map_word buddy_map_word

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
	if (atomic_load(map_word(m, w)) != 0)
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

/* The lowest (at most) want set bits of v; *n = how many. */
static uint64_t lowest_bits(uint64_t v, unsigned want, unsigned *n)
{
	uint64_t take = 0;
	unsigned i;

	for (i = 0; i < want && v != 0; i++) {
		take |= v & -v;
		v &= v - 1;
	}
	*n = i;
	return take;
}

/*
 * Claim up to want set bits of word w of map k among those in allowed
 * (the lowest ones) with one CAS, their frames taken out of the free count
 * first. Returns the bits claimed (0 if the word had none allowed). In a
 * full search (tidy), a word left empty gets its summary bit cleared.
 * Acquire: we will read the blocks' head descriptors.
 */
static uint64_t claim_in_word(struct buddy *b, unsigned k, uint64_t w,
			      uint64_t allowed, unsigned want, bool tidy)
{
	_Atomic uint64_t *word = map_word(&b->map[k], w);
	uint64_t v = atomic_load_explicit(word, memory_order_relaxed);
	int64_t held = 0; /* frames taken out of the count for this claim */

	while ((v & allowed) != 0) {
		unsigned n;
		uint64_t take = lowest_bits(v & allowed, want, &n);
		int64_t need = (int64_t)n << k;

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
	if (tidy && v == 0)
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
		/* A stale summary bit (HINTS): only a tidy search clears it. */
		if (!tidy && atomic_load_explicit(map_word(m, w),
						  memory_order_relaxed) == 0) {
			w++;
			continue;
		}
		uint64_t got = claim_in_word(b, k, w, ~UINT64_C(0), want, tidy);
		if (got != 0) {
			*word = w;
			return got;
		}
		w++;
	}
	return 0;
}

/*
 * Blocks of at least half an area (orders 9 and 10) are LARGE: they are
 * taken from windows and freed merging at once, and move no area. An
 * area holds two of them at most, so a CPU that kept to areas for them
 * would move every second allocation, and each move costs an exchange
 * and a merge of the area left (SEARCH).
 */
static bool large(unsigned k)
{
	return k + 1 >= BUDDY_AREA_ORDER;
}

/*
 * Words of map k a window search looks at (SEARCH): FAST_WORDS, but two
 * at order 9 (half an area). Free order-9 blocks are few and come and go
 * (halves whose buddy is held, published by drains and splits), each in
 * the words of the CPU that had them; a window of FAST_WORDS spans all of
 * map 9 at 1 GiB (8 words), so a CPU whose own words were empty took the
 * blocks another CPU had just published, and the two worked in the same
 * words: 2 threads did 1.25x the bulk order-9 allocations of one. With
 * two words each keeps to its own (2.0x), and splits a top-order block
 * from its window instead.
 */
static unsigned window_words(unsigned k)
{
	return k + 1 == BUDDY_AREA_ORDER ? 2 : FAST_WORDS;
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
		uint64_t span = window_words(k);
		uint64_t end = MIN(start + span, m->nwords);

		got = search_range(b, k, start, end, want, false, word);
		if (got == 0 && start + span > m->nwords)
			got = search_range(b, k, 0,
					   MIN(start, start + span - m->nwords),
					   want, false, word);
	}
	if (got != 0)
		atomic_store_explicit(hint, (uint32_t)*word,
				      memory_order_relaxed);
	return got;
}

/*
 * The words of map k that area a covers, [*first, *first + returned), and
 * the area's bits in them: all of each word at orders 0-4 (16 >> k
 * words), some bits of one word above.
 */
static uint64_t area_words(unsigned k, uint64_t a, uint64_t *first,
			   uint64_t *bits)
{
	unsigned span = BUDDY_AREA_ORDER - k; /* log2 of order-k blocks */
	uint64_t lo = a << span;

	*first = lo / 64;
	if (span >= 6) {
		*bits = ~UINT64_C(0);
		return UINT64_C(1) << (span - 6);
	}
	*bits = ((UINT64_C(1) << (1u << span)) - 1) << (lo % 64);
	return 1;
}

/*
 * Claim up to want free blocks of order k inside area a (SEARCH), from
 * the first of its words that has any. Its words are on lines of this
 * area alone: read them rather than the summary, which other areas
 * share. Returns the claimed bits and their word.
 */
static uint64_t claim_in_area(struct buddy *b, unsigned k, uint64_t a,
			      unsigned want, uint64_t *word)
{
	const struct freemap *m = &b->map[k];
	uint64_t first, bits, n = area_words(k, a, &first, &bits);

	for (uint64_t w = first; w < first + n; w++) {
		uint64_t got;

		if ((atomic_load_explicit(map_word(m, w),
					  memory_order_relaxed) & bits) == 0)
			continue;
		got = claim_in_word(b, k, w, bits, want, false);
		if (got != 0) {
			*word = w;
			return got;
		}
	}
	return 0;
}

/* The area holding block (idx, k). */
static uint64_t area_of(uint64_t idx, unsigned k)
{
	return (idx << k) >> BUDDY_AREA_ORDER;
}

/* The area this CPU allocates in and frees lazily into (SEARCH, LAZY). */
static uint64_t my_area(const struct buddy *b)
{
	return BUDDY_AREA_INDEX(atomic_load_explicit(&b->cpu[cpu_id()].area,
						     memory_order_relaxed));
}

/*
 * This CPU published block (idx, k): if in its area, note the order
 * there (area_orders, a private hint: blocks other CPUs free into the
 * area are not noted, and their merges may leave a bit stale; a search
 * that trusts a clear bit only moves to another area sooner).
 */
static void note_in_area(struct buddy *b, uint64_t idx, unsigned k)
{
	struct buddy_cpu *c = &b->cpu[cpu_id()];
	uint32_t have = atomic_load_explicit(&c->area_orders,
					     memory_order_relaxed);

	if (!(have & (1u << k)) &&
	    BUDDY_AREA_INDEX(atomic_load_explicit(&c->area,
						  memory_order_relaxed)) ==
		    area_of(idx, k))
		atomic_store_explicit(&c->area_orders, have | 1u << k,
				      memory_order_relaxed);
}

/* An area search found no order-k block: skip that order next time. */
static void note_area_empty(struct buddy *b, unsigned k)
{
	struct buddy_cpu *c = &b->cpu[cpu_id()];

	atomic_store_explicit(&c->area_orders,
			      atomic_load_explicit(&c->area_orders,
						   memory_order_relaxed) &
				      ~(1u << k),
			      memory_order_relaxed);
}

static uint32_t area_orders(const struct buddy *b)
{
	return atomic_load_explicit(&b->cpu[cpu_id()].area_orders,
				    memory_order_relaxed);
}

/* Whether area a is this CPU's alone (SEARCH: another CPU took it?). */
static bool area_mine(const struct buddy *b, uint64_t a)
{
	return atomic_load_explicit(&b->owner[a], memory_order_relaxed) ==
	       cpu_id() + 1;
}

static bool coalesce_area(struct buddy *b, uint64_t a, uint32_t orders);

/*
 * This CPU found a block outside its area: that area is its own now, and
 * the old one, left behind, gets its lazy frees merged (LAZY MERGING).
 * The new area is stored first: a free into the old one that starts
 * after the store merges at once.
 */
static void adopt_area(struct buddy *b, uint64_t idx, unsigned k)
{
	_Atomic uint64_t *area = &b->cpu[cpu_id()].area;
	uint64_t a = area_of(idx, k), old;

	if (!area_mine(b, a))
		atomic_store_explicit(&b->owner[a], (uint16_t)(cpu_id() + 1),
				      memory_order_relaxed);
	if (BUDDY_AREA_INDEX(atomic_load_explicit(area, memory_order_relaxed)) ==
	    a)
		return;
	atomic_store_explicit(&b->cpu[cpu_id()].area_orders, ~0u,
			      memory_order_relaxed);
	/* One step: the old area and its lazy orders, none lost between. */
	old = atomic_exchange_explicit(area, a, memory_order_seq_cst);
	if (old & BUDDY_AREA_DIRTY)
		coalesce_area(b, BUDDY_AREA_INDEX(old), (uint32_t)(old >> 32));
}

/*
 * Merge this CPU's lazy frees in its area, if it made any since the last
 * time (LAZY MERGING). Returns whether anything merged.
 */
static bool coalesce_mine(struct buddy *b)
{
	_Atomic uint64_t *area = &b->cpu[cpu_id()].area;
	uint64_t old;

	if (!(atomic_load_explicit(area, memory_order_relaxed) &
	      BUDDY_AREA_DIRTY))
		return false;
	old = atomic_fetch_and_explicit(area, ~BUDDY_AREA_DIRTY,
					memory_order_seq_cst);
	return coalesce_area(b, BUDDY_AREA_INDEX(old), (uint32_t)(old >> 32));
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
	atomic_fetch_or_explicit(map_word(m, idx / 64), bit_of(idx),
				 memory_order_seq_cst);
	note_nonempty(b, k, idx / 64);
	point_hint(b, k, idx / 64);
	note_in_area(b, idx, k);
}

/*
 * We own block (idx, j): split it down to order k, keep the lowest part.
 * The upper halves join the free count once all are published.
 */
static uint64_t split(struct buddy *b, uint64_t idx, unsigned j, unsigned k)
{
	bool mode, z;
	uint64_t halves = (UINT64_C(1) << j) - (UINT64_C(1) << k);

	PAUSE("buddy.split.claimed");
	if (j == k)
		return block_pfn(b, idx, k); /* nothing to split */
	mode = zeroed_in_use(b);
	z = mode && head_zeroed(block_pfn(b, idx, j));
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
	_Atomic uint64_t *word = map_word(&b->map[k], idx / 64);
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
static void merge_up(struct buddy *b, uint64_t idx, unsigned k, bool zeroed)
{
	for (;;) {
		if (!merge_or_publish(b, idx, k, zeroed)) {
			note_nonempty(b, k, idx / 64);
			point_hint(b, k, idx / 64);
			note_in_area(b, idx, k);
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

/*
 * Merge the free buddy pairs of word w of map k among allowed, one pair
 * per CAS: clearing both bits claims their parent, which merge_up() then
 * frees (merging on). Returns whether it merged any.
 */
static bool coalesce_word(struct buddy *b, unsigned k, uint64_t w,
			  uint64_t allowed)
{
	const uint64_t evens = UINT64_C(0x5555555555555555);
	_Atomic uint64_t *word = map_word(&b->map[k], w);
	uint64_t v = atomic_load_explicit(word, memory_order_relaxed);
	int64_t size = INT64_C(2) << k;
	bool merged = false, held = false;

	for (;;) {
		uint64_t pairs = v & (v >> 1) & evens & allowed, pair;

		if (pairs == 0)
			break;
		pair = (pairs & -pairs) * 3;
		if (!held)
			count_taken(b, size);
		held = true;
		if (!atomic_compare_exchange_weak_explicit(
			    word, &v, v & ~pair, memory_order_acq_rel,
			    memory_order_relaxed))
			continue;
		held = false;
		PAUSE("buddy.coalesce.claimed");
		{
			uint64_t lo = w * 64 + (uint64_t)__builtin_ctzll(pair);
			bool z = zeroed_in_use(b) &&
				 head_zeroed(block_pfn(b, lo, k)) &&
				 head_zeroed(block_pfn(b, lo + 1, k));

			merge_up(b, lo >> 1, k + 1, z);
		}
		merged = true;
		v = atomic_load_explicit(word, memory_order_relaxed);
	}
	if (held)
		count_taken(b, -size);
	return merged;
}

/*
 * Merge every free buddy pair of the given orders in area a, lowest order
 * first. Pairs arise only from lazy frees, at their own order (a merge
 * publishes its result only if the buddy is not free), so the orders of
 * the area's lazy frees are all there is to look at. Returns whether it
 * merged any.
 */
static bool coalesce_area(struct buddy *b, uint64_t a, uint32_t orders)
{
	bool merged = false;

	orders &= (1u << BUDDY_AREA_ORDER) - 1;
	for (; orders != 0; orders &= orders - 1) {
		unsigned k = (unsigned)__builtin_ctz(orders);
		uint64_t first, bits, n = area_words(k, a, &first, &bits);

		for (uint64_t w = first; w < first + n; w++)
			merged |= coalesce_word(b, k, w, bits);
	}
	return merged;
}

/*
 * After a lazy free of order k: the area may have a pair to merge there.
 * Returns the area the mark is on, read in the same step that set it (or
 * that found it set): the next step that takes the mark off that area
 * merges the area's pairs of order k.
 */
static uint64_t mark_dirty(struct buddy *b, unsigned k)
{
	_Atomic uint64_t *area = &b->cpu[cpu_id()].area;
	uint64_t v = atomic_load_explicit(area, memory_order_relaxed);

	if (!(v & BUDDY_AREA_LAZY(k)))
		v = atomic_fetch_or_explicit(area, BUDDY_AREA_LAZY(k),
					     memory_order_seq_cst);
	return BUDDY_AREA_INDEX(v);
}

/*
 * Free block (idx, k). Into this CPU's own area the free is lazy: the
 * block is published as it is, beside a free buddy if it has one, and
 * merged only when the area is coalesced (LAZY MERGING). Anywhere else
 * it merges upwards at once.
 */
static void free_block(struct buddy *b, uint64_t idx, unsigned k, bool zeroed)
{
	uint64_t a = area_of(idx, k), marked;

	if (large(k) || a != my_area(b) || !area_mine(b, a)) {
		merge_up(b, idx, k, zeroed);
		return;
	}
	if (zeroed_in_use(b))
		set_head(block_pfn(b, idx, k), zeroed);
	PAUSE("buddy.free.lazy");
	/* Sequentially consistent, as in publish_split(). */
	atomic_fetch_or_explicit(map_word(&b->map[k], idx / 64), bit_of(idx),
				 memory_order_seq_cst);
	note_nonempty(b, k, idx / 64);
	note_in_area(b, idx, k);
	count_added(b, UINT64_C(1) << k);
	marked = mark_dirty(b, k);
	PAUSE("buddy.free.lazy_marked");
	/*
	 * An interrupt may have moved this CPU to another area after the
	 * check above, and merged the old one before our publish: then the
	 * mark went to another area, and nobody would merge this block.
	 * Merge it ourselves. (Comparing the area read again instead misses
	 * an area left and taken back by two interrupts, the second time
	 * without the mark: issue 11's review.)
	 */
	if (marked != a)
		coalesce_word(b, k, idx / 64, bit_of(idx) | bit_of(idx ^ 1));
}

/* -------------------------------------------------------- the locked mode */

/* Out of line: the lock-free mode's operations stay small. */
static NOINLINE irqflags_t op_lock(struct buddy *b) NO_THREAD_SAFETY_ANALYSIS
{
	return spin_lock_irqsave(&b->lock);
}

static NOINLINE void op_unlock(struct buddy *b,
			       irqflags_t f) NO_THREAD_SAFETY_ANALYSIS
{
	spin_unlock_irqrestore(&b->lock, f);
}

static irqflags_t op_begin(struct buddy *b)
{
	irqflags_t f = { 0 };

	if (unlikely(b->locked))
		f = op_lock(b);
	return f;
}

static void op_end(struct buddy *b, irqflags_t f)
{
	if (unlikely(b->locked))
		op_unlock(b, f);
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

/*
 * LAYOUT: log2 of the words of map k on one cache line: as many as one
 * area has (16 >> k), at most a line's worth, at least one.
 */
static unsigned group_shift(unsigned k)
{
	int g = BUDDY_AREA_ORDER - 6 - (int)k;

	return (unsigned)MIN(MAX(g, 0), 3);
}

/* Bytes of map k's words (nwords of them) as LAYOUT places them. */
static uint64_t map_bytes(uint64_t nwords, unsigned k)
{
	uint64_t per_line = UINT64_C(1) << group_shift(k);

	return (nwords + per_line - 1) / per_line * CACHELINE;
}

uint64_t buddy_metadata_bytes(uint64_t npages)
{
	uint64_t bytes = MAX_CPUS * sizeof(struct buddy_cpu) +
			 ALIGN_UP((npages >> BUDDY_AREA_ORDER) * 2, CACHELINE);

	for (unsigned k = 0; k < BUDDY_ORDERS; k++) {
		uint64_t nwords = ((npages >> k) + 63) / 64;
		uint64_t nsum = (nwords + 63) / 64;

		bytes += map_bytes(nwords, k) + line_words(nsum);
	}
	return bytes;
}

/*
 * Each CPU starts searching at its own place in every map, and in its own
 * area, so CPUs split different blocks and do not share map or summary
 * words (a multiplicative hash of the CPU id spreads any number of CPUs
 * evenly: CPUs 0 and 1 start 0.62 of the zone apart).
 */
static uint32_t spread(unsigned cpu, uint64_t n)
{
	uint64_t frac = (uint64_t)cpu * 0x9e3779b97f4a7c15u >> 32;

	return (uint32_t)(frac * n >> 32);
}

static void spread_hints(struct buddy *b)
{
	/* Downwards: where CPUs' first areas collide, the lowest id owns it
	   (ids are handed out lowest first). */
	for (unsigned c = MAX_CPUS; c-- > 0;) {
		for (unsigned k = 0; k < BUDDY_ORDERS; k++)
			atomic_init(&b->cpu[c].hint[k],
				    spread(c, b->map[k].nwords));
		atomic_init(&b->cpu[c].area,
			    spread(c, b->npages >> BUDDY_AREA_ORDER));
		atomic_init(&b->cpu[c].area_orders, ~0u);
		atomic_init(&b->owner[spread(c, b->npages >> BUDDY_AREA_ORDER)],
			    (uint16_t)(c + 1));
	}
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
	b->owner = (_Atomic uint16_t *)p;
	p += ALIGN_UP((npages >> BUDDY_AREA_ORDER) * 2, CACHELINE);
	for (unsigned k = 0; k < BUDDY_ORDERS; k++) {
		struct freemap *m = &b->map[k];

		m->nwords = ((npages >> k) + 63) / 64;
		m->nsum = (m->nwords + 63) / 64;
		m->gshift = group_shift(k);
		m->bits = (_Atomic uint64_t *)p;
		p += map_bytes(m->nwords, k);
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
 * Where a search looks (SEARCH): this CPU's area; elsewhere (a whole free
 * area from a window of the top order, else windows of each order); or
 * every map (full: tidying hints as it goes).
 */
enum scope { IN_AREA, ELSEWHERE, WINDOWS, FULL };

/* Claim a free block of order o in the scope: its bit, or 0. */
static uint64_t claim_one(struct buddy *b, unsigned o, enum scope scope,
			  uint64_t *word)
{
	if (scope == IN_AREA && !area_mine(b, my_area(b)))
		return 0;
	return scope == IN_AREA ? claim_in_area(b, o, my_area(b), 1, word)
				: claim(b, o, 1, scope == FULL, word);
}

/*
 * Claim a free block of order >= k outside the area (ELSEWHERE: a whole
 * free area first, then lowest order first) or in a FULL pass (lowest
 * order first). Returns false, or the block in (*j, *idx); its area
 * becomes the CPU's unless k is LARGE. (The area and the windows have
 * their own searches: alloc_in_area(), alloc_in_windows().)
 */
static bool find(struct buddy *b, unsigned k, enum scope scope, unsigned *j,
		 uint64_t *idx)
{
	const uint32_t top = 1u << BUDDY_MAX_ORDER;
	uint32_t orders = atomic_load(&b->nonempty) & (~0u << k);
	uint32_t first = scope == ELSEWHERE ? orders & top : 0;

	ASSERT(scope == ELSEWHERE || scope == FULL);
	for (orders &= ~first; (first | orders) != 0;) {
		uint32_t *from = first != 0 ? &first : &orders;
		unsigned o = (unsigned)__builtin_ctz(*from);
		uint64_t word, got;

		*from &= *from - 1;
		got = claim_one(b, o, scope, &word);
		if (got != 0) {
			*j = o;
			*idx = word * 64 + (uint64_t)__builtin_ctzll(got);
			if (!large(k))
				adopt_area(b, *idx, o);
			return true;
		}
		if (scope == FULL)
			note_empty_map(b, o);
	}
	return false;
}

/*
 * One block of order k from this CPU's area, split down to k (SEARCH's
 * IN_AREA).
 */
static bool alloc_in_area(struct buddy *b, unsigned k, pfn_t *out)
{
	uint64_t a = my_area(b), word, got;
	uint32_t orders;

	if (!area_mine(b, a))
		return false;
	orders = atomic_load(&b->nonempty) & area_orders(b) & (~0u << k);
	for (; orders != 0; orders &= orders - 1) {
		unsigned o = (unsigned)__builtin_ctz(orders);

		got = claim_in_area(b, o, a, 1, &word);
		if (got != 0) {
			*out = PFN(split(b, word * 64 +
						    (uint64_t)__builtin_ctzll(got),
					 o, k));
			return true;
		}
		note_area_empty(b, o);
	}
	return false;
}

/*
 * One LARGE block of order k from windows, split down to k (SEARCH's
 * WINDOWS).
 */
static bool alloc_in_windows(struct buddy *b, unsigned k, pfn_t *out)
{
	uint32_t orders = atomic_load(&b->nonempty) & (~0u << k);
	uint64_t word, got;

	for (; orders != 0; orders &= orders - 1) {
		unsigned o = (unsigned)__builtin_ctz(orders);

		got = claim(b, o, 1, false, &word);
		if (got != 0) {
			*out = PFN(split(b, word * 64 +
						    (uint64_t)__builtin_ctzll(got),
					 o, k));
			return true;
		}
	}
	return false;
}

/* One block of order k from the scope, split down to k. */
static bool alloc_in(struct buddy *b, unsigned k, enum scope scope,
		     pfn_t *out)
{
	uint64_t idx;
	unsigned j;

	if (!find(b, k, scope, &j, &idx))
		return false;
	*out = PFN(split(b, idx, j, k));
	return true;
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

			if (atomic_load_explicit(map_word(m, w),
						 memory_order_relaxed) == 0)
				continue;
			got = claim_in_word(b, j, w, ~UINT64_C(0), 1, false);
			if (got == 0)
				continue;
			*order = j;
			*idx = w * 64 + (uint64_t)__builtin_ctzll(got);
			if (!large(k))
				adopt_area(b, *idx, j);
			return true;
		}
	}
	return false;
}

/*
 * Merge every free buddy pair below order k, in every area, lowest order
 * first (LAZY MERGING). Hints ignored: it reads every word.
 */
static void coalesce_below(struct buddy *b, unsigned k)
{
	for (unsigned j = 0; j < k && j < BUDDY_MAX_ORDER; j++)
		for (uint64_t w = 0; w < b->map[j].nwords; w++)
			if (atomic_load_explicit(map_word(&b->map[j], w),
						 memory_order_relaxed) != 0)
				(void)coalesce_word(b, j, w, ~UINT64_C(0));
}

/*
 * The passes of an allocation that the hints could not satisfy: passes
 * that first merge every free pair that could make a block of order k,
 * then look at every word, until one finds a block, or one finds none
 * while nothing was published (COMPLETENESS).
 */
static bool alloc_last_pass(struct buddy *b, unsigned k, pfn_t *out)
{
	for (;;) {
		uint64_t epoch = publish_epoch(b), idx;
		unsigned j;

		PAUSE("buddy.alloc.last_pass");
		coalesce_below(b, k);
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
	if (large(order))
		ok = alloc_in_windows(b, order, out); /* LARGE: no area */
	else
		ok = alloc_in_area(b, order, out) ||
		     (coalesce_mine(b) && alloc_in_area(b, order, out)) ||
		     alloc_in(b, order, ELSEWHERE, out);
	ok = ok || alloc_in(b, order, FULL, out) ||
	     alloc_last_pass(b, order, out);
	op_end(b, f);
	return ok;
}

/* Claim one block of order >= j in the scope, carve it into order k. */
static unsigned carve(struct buddy *b, unsigned j, unsigned k,
		      enum scope scope, pfn_t *out)
{
	pfn_t big;
	uint64_t n = UINT64_C(1) << (j - k);
	bool mode, z;

	if (!alloc_in(b, j, scope, &big))
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
 * Carve the largest block that does not overshoot n pieces of order k,
 * from the scope: the order of the carve falls until one is found.
 */
static unsigned carve_largest(struct buddy *b, unsigned k, unsigned n,
			      enum scope scope, pfn_t *out)
{
	unsigned span = 63 - (unsigned)__builtin_clzll(n);
	unsigned top = MIN(k + span, (unsigned)BUDDY_MAX_ORDER);
	unsigned c = 0;

	/* carve(j) searches orders >= j, so each j adds one map. */
	for (unsigned j = top + 1; j-- > k && c == 0;)
		c = carve(b, j, k, scope, out);
	return c;
}

/* Store the blocks of bits (word w of map j) as order-k pieces in out. */
static unsigned store_pieces(struct buddy *b, uint64_t w, uint64_t bits,
			     unsigned j, unsigned k, pfn_t *out)
{
	bool mode = j > k && zeroed_in_use(b);
	unsigned got = 0;

	for (; bits != 0; bits &= bits - 1) {
		uint64_t head = block_pfn(b, w * 64 +
					  (uint64_t)__builtin_ctzll(bits), j);
		bool z = mode && head_zeroed(head);

		for (uint64_t i = 0; i < UINT64_C(1) << (j - k); i++) {
			out[got] = PFN(head + (i << k));
			if (mode && i > 0)
				set_head(out[got].v, z);
			got++;
		}
	}
	return got;
}

/*
 * Claim up to want free blocks of order j from the scope's words, and
 * store them as order-k pieces in out. Returns the pieces stored. In the
 * area, one pass over its words (orders 0-4 have several; lazy frees
 * scatter blocks over them); elsewhere, one word.
 */
static unsigned take_pieces(struct buddy *b, unsigned j, unsigned k,
			    unsigned want, enum scope scope, uint64_t a,
			    pfn_t *out)
{
	uint64_t word, bits;

	if (scope == IN_AREA) {
		const struct freemap *m = &b->map[j];
		uint64_t first, mask, n = area_words(j, a, &first, &mask);
		unsigned got = 0;

		for (uint64_t w = first; w < first + n && want > 0; w++) {
			if ((atomic_load_explicit(map_word(m, w),
						  memory_order_relaxed) &
			     mask) == 0)
				continue;
			bits = claim_in_word(b, j, w, mask, want, false);
			want -= (unsigned)__builtin_popcountll(bits);
			got += store_pieces(b, w, bits, j, k, out + got);
		}
		return got;
	}
	bits = claim(b, j, want, scope == FULL, &word);
	return bits == 0 ? 0 : store_pieces(b, word, bits, j, k, out);
}

/*
 * Claim one free block of order j in the scope, larger than the n pieces
 * of order k still wanted: split it down to the largest order that does
 * not overshoot (its upper halves published, in this CPU's area if it
 * was found there), and store that part as pieces. Returns the pieces
 * stored, and in *more the orders of the halves it published.
 */
static unsigned take_split(struct buddy *b, unsigned j, unsigned k,
			   unsigned n, enum scope scope, pfn_t *out,
			   uint32_t *more)
{
	unsigned top = k + 63 - (unsigned)__builtin_clzll(n);
	uint64_t word, bit = claim_one(b, j, scope, &word);
	uint64_t head, pieces = UINT64_C(1) << (top - k);
	bool mode, z;

	if (bit == 0)
		return 0;
	head = split(b, word * 64 + (uint64_t)__builtin_ctzll(bit), j, top);
	*more = (1u << j) - (1u << top);
	mode = zeroed_in_use(b);
	z = mode && head_zeroed(head);
	for (uint64_t i = 0; i < pieces; i++) {
		out[i] = PFN(head + (i << k));
		if (mode && i > 0)
			set_head(out[i].v, z);
	}
	return (unsigned)pieces;
}

/* A bulk allocation may return once it has half of what it asked for. */
static bool enough(unsigned got, unsigned n)
{
	return got > 0 && got >= n / 2;
}

/*
 * Bulk allocation from one scope (the area, windows, every map), in one
 * pass up the orders: the free blocks that fit whole, smallest order
 * first and whole words at a time (lazy frees leave an area's free memory
 * in blocks of many orders); a block larger than what is still wanted is
 * split, and the orders of its published halves are looked at again,
 * unless half of n is there already (splitting for a remainder costs a
 * publish per order for a few pieces; the caller asked for up to n).
 */
static unsigned bulk_pass(struct buddy *b, unsigned order, unsigned n,
			  enum scope scope, pfn_t *out)
{
	uint64_t a = my_area(b);
	uint32_t orders = atomic_load(&b->nonempty) & (~0u << order);
	unsigned got = 0;

	if (scope == IN_AREA && !area_mine(b, a))
		return 0;
	if (scope == IN_AREA)
		orders &= area_orders(b);
	while (orders != 0 && got < n) {
		unsigned j = (unsigned)__builtin_ctz(orders);
		unsigned want = (n - got) >> (j - order), c;
		uint32_t more = 0;

		if (want > 0)
			c = take_pieces(b, j, order, want, scope, a, out + got);
		else if (enough(got, n))
			break; /* no split for the remainder */
		else
			c = take_split(b, j, order, n - got, scope, out + got,
				       &more);
		if (c == 0) {
			orders &= orders - 1;
			if (scope == IN_AREA)
				note_area_empty(b, j);
		}
		orders |= more;
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
	/*
	 * The area; then one carve elsewhere, which moves the area, and the
	 * rest of the new area; again until half of n is there (enough).
	 * Large blocks: windows (SEARCH). Full passes only if that fails.
	 */
	if (large(order))
		got = bulk_pass(b, order, n, WINDOWS, out);
	while (!large(order)) {
		unsigned c;

		got += bulk_pass(b, order, n - got, IN_AREA, out + got);
		if (!enough(got, n) && coalesce_mine(b))
			got += bulk_pass(b, order, n - got, IN_AREA, out + got);
		if (enough(got, n))
			break;
		c = carve_largest(b, order, n - got, ELSEWHERE, out + got);
		if (c == 0)
			break;
		got += c;
	}
	if (!enough(got, n))
		got += bulk_pass(b, order, n - got, FULL, out + got);
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

/*
 * Publish the top-order blocks idx.. of one word, as many as fit in
 * [idx, idx + n), with one fetch-or (the top order never merges, so each
 * block's publish is that step). Returns how many it published.
 */
static uint64_t publish_top(struct buddy *b, uint64_t idx, uint64_t n,
			    bool zeroed)
{
	const unsigned k = BUDDY_MAX_ORDER;
	uint64_t c = MIN(n, 64 - idx % 64);
	uint64_t bits = (c == 64 ? ~UINT64_C(0) : (UINT64_C(1) << c) - 1)
			<< (idx % 64);

	if (zeroed_in_use(b))
		for (uint64_t i = 0; i < c; i++)
			set_head(block_pfn(b, idx + i, k), zeroed);
	atomic_fetch_or_explicit(map_word(&b->map[k], idx / 64), bits,
				 memory_order_seq_cst);
	note_nonempty(b, k, idx / 64);
	point_hint(b, k, idx / 64);
	count_added(b, c << k);
	return c;
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

		if (order == BUDDY_MAX_ORDER) {
			s += publish_top(b, block_idx(b, s, order),
					 (e - s) >> order, zeroed)
			     << order;
			continue;
		}
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

void buddy_coalesce(struct buddy *b)
{
	irqflags_t f = op_begin(b);

	coalesce_below(b, BUDDY_MAX_ORDER);
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
	return (atomic_load_explicit(map_word(m, idx / 64), memory_order_relaxed) &
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
					    atomic_load(map_word(m, w))) << k;
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

/* Whether area a is some CPU's (LAZY MERGING: it may hold free pairs). */
static bool area_in_use(const struct buddy *b, uint64_t a)
{
	for (unsigned c = 0; c < ncpus(); c++)
		if (BUDDY_AREA_INDEX(atomic_load_explicit(
			    &b->cpu[c].area, memory_order_relaxed)) == a)
			return true;
	return false;
}

/* Whether every pair (even bits of pairs) of word w of map k is lazy. */
static bool pairs_lazy(const struct buddy *b, unsigned k, uint64_t w,
		       uint64_t pairs)
{
	for (; pairs != 0; pairs &= pairs - 1)
		if (!area_in_use(b, area_of(w * 64 + (uint64_t)
						__builtin_ctzll(pairs), k)))
			return false;
	return true;
}

uint64_t buddy_free_pairs(const struct buddy *b)
{
	const uint64_t evens = UINT64_C(0x5555555555555555);
	uint64_t n = 0;

	for (unsigned k = 0; k < BUDDY_MAX_ORDER; k++)
		for (uint64_t w = 0; w < b->map[k].nwords; w++) {
			uint64_t v = atomic_load(map_word(&b->map[k], w));

			n += (uint64_t)__builtin_popcountll(v & (v >> 1) & evens);
		}
	return n;
}

static bool validate_map(const struct buddy *b, unsigned k)
{
	const struct freemap *m = &b->map[k];
	const uint64_t pairs = UINT64_C(0x5555555555555555);
	bool any = false;

	for (uint64_t w = 0; w < m->nwords; w++) {
		uint64_t v = atomic_load(map_word(m, w));

		if (v == 0)
			continue;
		any = true;
		if (!(atomic_load(&m->summary[w / 64]) & bit_of(w))) {
			klog("buddy: order %u word %llu set, summary clear", k,
			     (unsigned long long)w);
			return false;
		}
		if (k < BUDDY_MAX_ORDER && !pairs_lazy(b, k, w, v & (v >> 1) & pairs)) {
			klog("buddy: order %u word %llu has free buddies %#llx "
			     "outside every CPU's area", k,
			     (unsigned long long)w, (unsigned long long)v);
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
			if (atomic_load_explicit(map_word(m, w),
						 memory_order_relaxed) != 0)
				return (int)k;
	}
	return -1;
}
